"""The composition root: builds the expensive things once (engine, embedder, vector store, knowledge base)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import anyio
import sqlalchemy as sa

from agent.agent import AgentConfig, AgentDeps, SupportAgent
from agent.escalation import EscalationPolicy, prefers_assistant
from agent.extractive import ExtractiveWriter
from agent.injection import warm_up as warm_up_injection_rules
from agent.intents import IntentClassifier
from agent.skills import SkillMap
from agent.types import AnswerWriter, QuestionRewriter
from analytics import InteractionLog
from analytics.alerts import AlertStore
from analytics.webhooks import AlertDeliveryWorker
from analytics.webhooks import RetryPolicy as AlertRetryPolicy
from channels.base import Channel
from channels.email import SupportMailbox
from channels.webchat.hub import WebchatHub
from channels.webchat.relay import LocalRelay, RedisRelay
from channels.webchat.tokens import VisitorTokens, load_or_create_secret
from conversations.handoff import Handoff, RoutingEvents, RoutingWorker
from conversations.hours import BusinessHours
from conversations.inbox import Inbox, ReplyWorker, redact_text
from conversations.intake import AttachmentQuota, Intake
from conversations.interactions import Interactions
from conversations.outbox import Doorbell, Outbox, OutboxWorker, RetryPolicy
from conversations.replies import Replies, email_addressing
from conversations.store import ConversationStore
from conversations.webchat import SECRET_FILE, WebchatService
from frontdesk import db
from frontdesk.api_keys import ApiKeyStore
from frontdesk.emerging import EmergingMonitor, build_monitor
from frontdesk.settings import Settings
from knowledge.base import IngestReport, KnowledgeBase
from knowledge.catalog import Catalog
from knowledge.embeddings import Embedder, SentenceTransformerEmbedder
from knowledge.store import ChromaVectorStore, VectorStore
from routing import ChannelKind, Router, RoutingConfig, load_roster
from routing.skillmap import SkillMap as RoutingSkillMap

logger = logging.getLogger(__name__)

DEMO_KB = Path(__file__).with_name("demo_kb")
ANALYTICS_KEY_FILE = "analytics.key"
RETENTION_INTERVAL = 3600.0  # seconds between two sweeps of the interaction log's retention


@dataclass(slots=True)
class Runtime:
    """Everything a request or a command needs, built once per process."""

    settings: Settings
    engine: sa.Engine
    store: VectorStore
    embedder: Embedder
    knowledge: KnowledgeBase
    agent: SupportAgent
    inbox: Inbox
    outbox: Outbox
    channels: dict[str, Channel] = field(default_factory=dict)
    chat_model: object | None = None
    router: Router | None = None
    handoff: Handoff | None = None
    routing_events: RoutingEvents | None = None
    interaction_log: InteractionLog | None = None
    interactions: Interactions | None = None
    alerts: AlertStore | None = None
    alert_worker: AlertDeliveryWorker | None = None
    monitor: EmergingMonitor | None = None
    outbox_worker: OutboxWorker | None = None
    reply_worker: ReplyWorker | None = None
    api_keys: ApiKeyStore = field(init=False)

    def __post_init__(self) -> None:
        self.api_keys = ApiKeyStore(self.engine)

    def close(self) -> None:
        """Write the interaction events still queued (a command that ran without workers), then let go of
        the database."""
        if self.interaction_log is not None:
            try:
                self.interaction_log.flush()
            except sa.exc.SQLAlchemyError:
                logger.exception("%d interaction events could not be written", self.interaction_log.pending)
        self.engine.dispose()

    def add_channel(self, channel: Channel) -> None:
        """Register a channel that delivers replies from the outbox."""
        self.channels[channel.name] = channel
        if self.outbox_worker is not None:
            self.outbox_worker.channels[channel.name] = channel

    async def run_workers(self) -> None:
        """Answer queued messages and deliver the outbox until cancelled (the service runs this in its
        lifespan; a command that only reads does not)."""
        retry = RetryPolicy(
            max_attempts=self.settings.outbox_max_attempts, base_delay=self.settings.outbox_retry_seconds
        )
        self.outbox_worker = OutboxWorker(self.outbox, self.channels, retry=retry, doorbell=self.inbox.outbox)
        self.reply_worker = ReplyWorker(self.inbox, doorbell=self.inbox.queued)
        async with anyio.create_task_group() as group:
            group.start_soon(self.outbox_worker.run)
            group.start_soon(self.reply_worker.run)
            if self.handoff is not None:
                group.start_soon(RoutingWorker(self.handoff).run)
            if self.alert_worker is not None:
                group.start_soon(self.alert_worker.run)
            if self.monitor is not None:
                group.start_soon(self.monitor.run)
            if self.interaction_log is not None:
                group.start_soon(self.interaction_log.run)
                group.start_soon(self._keep_retention, self.interaction_log)

    async def _keep_retention(self, log: InteractionLog) -> None:
        """Remove interaction events older than the retention period, now and every hour."""
        while True:
            cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=self.settings.analytics_retention_days)
            try:
                removed = await anyio.to_thread.run_sync(partial(log.purge, older_than=cutoff))
            except sa.exc.SQLAlchemyError:
                logger.exception("the interaction log's retention sweep failed; it runs again in an hour")
            else:
                if removed:
                    logger.info("removed %d interaction events older than %s", removed, cutoff.date())
            await anyio.sleep(RETENTION_INTERVAL)


def build_store(settings: Settings) -> ChromaVectorStore:
    if settings.chroma_host:
        return ChromaVectorStore(
            host=settings.chroma_host,
            port=settings.chroma_port,
            ssl=settings.chroma_ssl,
            collection=settings.chroma_collection,
        )
    return ChromaVectorStore(path=settings.resolved_chroma_path, collection=settings.chroma_collection)


def build_runtime(settings: Settings, *, embedder: Embedder | None = None, migrate: bool = True) -> Runtime:
    """Open the database (migrating it), the vector store and the embedding model."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = db.create_engine(settings.resolved_database_url)
    if migrate:
        db.upgrade(engine)
    store = build_store(settings)
    if embedder is None:
        embedder = SentenceTransformerEmbedder(settings.embedding_model, batch_size=settings.embedding_batch_size)
    knowledge = KnowledgeBase(catalog=Catalog(engine), store=store, embedder=embedder)
    agent, policy, chat_model = build_agent(settings, knowledge, embedder)
    warm_up_injection_rules()  # compiles the detector's rules now, not on the first customer's message
    lease = dt.timedelta(seconds=settings.reply_lease_seconds)
    hours = BusinessHours.from_settings(settings.business_hours, settings.business_hours_by_channel)
    conversations = ConversationStore(engine)
    quota = AttachmentQuota(settings.max_attachments_per_conversation, settings.max_attachment_bytes_per_day)
    intake = Intake(engine, lease=lease, back_to_bot=prefers_assistant, quota=quota)
    log = InteractionLog(engine)
    inbox, router, handoff, events = connect_inbox(
        settings, conversations, agent, policy, intake=intake, hours=hours, log=log
    )
    interactions = inbox.interactions
    alert_worker, alerts = build_alerts(settings, engine)
    monitor = build_monitor(
        engine,
        alerts,
        encode=embedder.embed_queries,
        classifier=agent.deps.intents,
        lock_file=settings.data_dir / "emerging.lock",
    )
    return Runtime(
        settings=settings,
        engine=engine,
        store=store,
        embedder=embedder,
        knowledge=knowledge,
        agent=agent,
        inbox=inbox,
        outbox=Outbox(engine, lease=lease),
        chat_model=chat_model,
        router=router,
        handoff=handoff,
        routing_events=events,
        interaction_log=log,
        interactions=interactions,
        alerts=alerts,
        alert_worker=alert_worker,
        monitor=monitor,
    )


def build_alerts(settings: Settings, engine: sa.Engine) -> tuple[AlertDeliveryWorker, AlertStore]:
    """The alert store and the worker that delivers its announcements (webhooks, supervisor e-mail)."""
    from frontdesk.alert_mail import build_alert_mailer

    secret = settings.alert_webhook_secret.get_secret_value() if settings.alert_webhook_secret else None
    worker = AlertDeliveryWorker(
        engine,
        webhook_secret=secret,
        mailer=build_alert_mailer(settings) if settings.alert_email_list else None,
        retry=AlertRetryPolicy(max_attempts=settings.alert_delivery_max_attempts),
        timeout=settings.alert_webhook_timeout,
        # A claimed batch is sent `concurrency` at a time; the lease outlasts the slowest batch (an e-mail may
        # take four timeouts), so another worker never takes a row this one is still sending.
        lease=max(60.0, settings.alert_webhook_timeout * 4 * 5 + 10),
    )
    base = (settings.public_base_url or "").rstrip("/")
    store = AlertStore(
        engine,
        webhook_urls=settings.alert_webhook_url_list,
        emails=settings.alert_email_list,
        dashboard_url=f"{base}/dashboard" if base else None,
        on_change=worker.notify,
    )
    return worker, store


def analytics_key(settings: Settings) -> str:
    """The key of the interaction log's customer keys: the setting, or one generated in the data folder."""
    if settings.analytics_key is not None:
        return settings.analytics_key.get_secret_value()
    return load_or_create_secret(settings.data_dir / ANALYTICS_KEY_FILE).decode("ascii")


# Channels with no routing kind of their own: the API and the CLI are chats.
EXTRA_CHANNEL_KINDS = {"api": ChannelKind.CHAT, "cli": ChannelKind.CHAT}


def connect_inbox(
    settings: Settings,
    conversations: ConversationStore,
    agent: SupportAgent,
    policy: EscalationPolicy,
    *,
    intake: Intake,
    hours: BusinessHours | None = None,
    log: InteractionLog | None = None,
) -> tuple[Inbox, Router, Handoff, RoutingEvents]:
    """The inbox with every collaborator given at construction, each built before what uses it: routing and
    the interaction log, the replies (which the hand-off posts through), the hand-off, then the inbox."""
    events = RoutingEvents()
    router = build_router(settings, conversations.engine, listener=events)
    interactions = (
        Interactions(log, conversations, redact=redact_text, router=router, secret=analytics_key(settings))
        if log is not None
        else None
    )
    mailbox = email_mailbox(settings)
    addressing = {"email": email_addressing(intake, mailbox)} if mailbox is not None else {}
    outbox_bell, queued_bell = Doorbell(), Doorbell()
    replies = Replies(conversations, addressing=addressing, outbox=outbox_bell, interactions=interactions)
    handoff = Handoff(router, conversations, post=replies.post)
    events.subscribe(handoff.on_event)
    if interactions is not None:
        events.subscribe(interactions.on_routing_event)
    inbox = Inbox(
        conversations,
        agent,
        policy,
        intake=intake,
        hours=hours,
        outbox=outbox_bell,
        queued=queued_bell,
        handoff=handoff,
        interactions=interactions,
        replies=replies,
    )
    return inbox, router, handoff, events


def build_router(settings: Settings, engine: sa.Engine, *, listener: RoutingEvents | None = None) -> Router:
    """The router, with the roster file (when set) synced into the database: its teams and agents are
    added or updated, agents added through the API are kept."""
    skills = RoutingSkillMap.from_file(settings.skill_map) if settings.skill_map is not None else None
    roster = load_roster(settings.roster, skill_map=skills) if settings.roster is not None else None
    config = roster.routing if roster is not None else RoutingConfig()
    config = config.model_copy(update={"channel_kinds": {**EXTRA_CHANNEL_KINDS, **config.channel_kinds}})
    router = Router(engine, config, skill_map=skills, listener=listener)
    if roster is not None and settings.roster is not None:
        router.sync_roster(roster)
    return router


def email_mailbox(settings: Settings) -> SupportMailbox | None:
    """Our support address and the domains we take mail for; None when e-mail is not configured."""
    if not settings.email_from:
        return None
    return SupportMailbox(
        settings.email_from, display_name=settings.email_from_name, domains=settings.email_domain_list
    )


def build_agent(
    settings: Settings, knowledge: KnowledgeBase, embedder: Embedder
) -> tuple[SupportAgent, EscalationPolicy, object | None]:
    """The support agent: Gemini when a key is set, the offline writer otherwise; intents when trained."""
    skills = SkillMap.from_file(settings.skill_map) if settings.skill_map is not None else None
    policy = EscalationPolicy.from_file(
        settings.escalation_policy,
        skill_for=skills.skill_for if skills is not None else None,
        always_escalate=skills.always_escalate if skills is not None else None,
    )
    intent_dir = settings.resolved_intent_model
    intents = IntentClassifier.load(intent_dir, embedder=embedder) if intent_dir is not None else None
    writer: AnswerWriter | None = None
    rewriter: QuestionRewriter | None = None
    chat_model = None
    if settings.chat_model is not None:
        from langchain.chat_models import init_chat_model

        from agent.llm import LLMAnswerWriter, LLMQuestionRewriter

        chat_model = init_chat_model(settings.chat_model)
        writer = LLMAnswerWriter(chat_model, name=settings.chat_model, timeout=settings.gemini_timeout * 2)
        rewriter = LLMQuestionRewriter(chat_model, timeout=settings.gemini_timeout)
    elif settings.gemini_api_key is not None:
        from agent.llm import LLMAnswerWriter, LLMQuestionRewriter, build_gemini_chat_model

        chat_model = build_gemini_chat_model(
            settings.gemini_api_key.get_secret_value(),
            settings.gemini_model,
            base_url=settings.gemini_base_url,
            timeout=settings.gemini_timeout,
            max_retries=settings.gemini_max_retries,
            thinking_budget=settings.gemini_thinking_budget,
        )
        whole = settings.gemini_timeout * (settings.gemini_max_retries + 1) + 5
        writer = LLMAnswerWriter(chat_model, timeout=whole)
        rewriter = LLMQuestionRewriter(chat_model, timeout=settings.gemini_timeout)
    deps = AgentDeps(
        knowledge=knowledge,
        policy=policy,
        writer=writer,
        rewriter=rewriter,
        offline=ExtractiveWriter(embedder=embedder, sentences=knowledge.sentences),
        intents=intents,
        skills=skills,
        config=AgentConfig(min_confidence=settings.answer_min_confidence),
    )
    return SupportAgent(deps), policy, chat_model


def ingest_demo_if_empty(runtime: Runtime) -> IngestReport | None:
    """Ingest the bundled demo help centre into an empty knowledge base."""
    if not runtime.settings.demo_kb or runtime.knowledge.catalog.count() > 0:
        return None
    report = runtime.knowledge.ingest([str(DEMO_KB)])
    logger.info("ingested the demo knowledge base: %d documents", len(report.added))
    return report


def build_webchat(
    settings: Settings,
    inbox: Inbox,
    hub: WebchatHub | None = None,
    *,
    proactive: Callable[[str], tuple[str, str] | None] | None = None,
) -> WebchatService:
    """The web chat service from the settings: the token secret from `webchat_secret`, or the one generated
    and kept in the data folder on first start; frames relayed through Redis when `redis_url` is set (several
    workers), straight to this process's windows otherwise."""
    if settings.webchat_secret is not None:
        secret = settings.webchat_secret.get_secret_value().encode()
    else:
        secret = load_or_create_secret(settings.data_dir / SECRET_FILE)
    tokens = VisitorTokens(secret, max_age=dt.timedelta(days=settings.webchat_token_days))
    hub = hub or WebchatHub()
    redis_url = settings.redis_url.get_secret_value() if settings.redis_url is not None else None
    relay = RedisRelay(hub, redis_url) if redis_url else LocalRelay(hub)
    return WebchatService(
        inbox, tokens, hub, human_reply_minutes=settings.webchat_human_reply_minutes, relay=relay, proactive=proactive
    )
