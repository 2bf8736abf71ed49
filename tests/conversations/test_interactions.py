"""Every step of a conversation reaches the interaction log: the message, the retrieval and the answer, the
escalation, the person who took it, their reply and the resolution; redacted, with a one-way customer key."""

from __future__ import annotations

import sqlalchemy as sa

from agent.agent import SupportAgent
from agent.escalation import EscalationPolicy, prefers_assistant
from analytics import EventKind, InteractionLog, customer_key
from channels.messages import InboundMessage, ThreadKey
from conversations.handoff import Handoff, RoutingEvents
from conversations.inbox import Inbox, redact_text
from conversations.intake import Intake
from conversations.interactions import Interactions
from conversations.replies import Replies
from conversations.store import ConversationStore
from routing import AgentStatus, ChannelKind, HumanAgent, Router, RoutingConfig

CUSTOMER, OURS = "whatsapp:+15550002222", "whatsapp:+15559990000"
SECRET = "test-analytics-key"


def _setup(engine: sa.Engine, agent: SupportAgent) -> tuple[Inbox, Handoff, Router, InteractionLog]:
    store = ConversationStore(engine)
    events = RoutingEvents()
    router = Router(engine, RoutingConfig(channel_kinds={"api": ChannelKind.CHAT}), listener=events)
    log = InteractionLog(engine)
    interactions = Interactions(log, store, redact=redact_text, router=router, secret=SECRET)
    replies = Replies(store, interactions=interactions)
    handoff = Handoff(router, store, post=replies.post)
    events.subscribe(handoff.on_event)
    events.subscribe(interactions.on_routing_event)
    intake = Intake(engine, back_to_bot=prefers_assistant)
    inbox = Inbox(
        store, agent, EscalationPolicy(), intake=intake, handoff=handoff, interactions=interactions, replies=replies
    )
    return inbox, handoff, router, log


def _whatsapp(text: str, sid: str) -> InboundMessage:
    return InboundMessage(
        channel="whatsapp",
        sender=CUSTOMER,
        recipient=OURS,
        text=text,
        provider_message_id=sid,
        thread_keys=(ThreadKey(f"wa:{CUSTOMER}:{OURS}", open_only=True),),
    )


async def test_an_answered_question_logs_the_message_the_retrieval_and_the_answer(
    engine: sa.Engine, demo_agent: SupportAgent
) -> None:
    inbox, _, _, log = _setup(engine, demo_agent)
    receipt = await inbox.receive(_whatsapp("Where is the Lakeview store? I'm ana@example.com", "SM1"))
    await inbox.receive(_whatsapp("Where is the Lakeview store? I'm ana@example.com", "SM1"))  # the provider retries
    reply = await inbox.answer_pending(receipt.conversation_id)
    assert reply is not None and reply.escalation is None
    log.flush()
    events = log.events(conversation_id=receipt.conversation_id)
    assert [e.kind for e in events] == [EventKind.MESSAGE_IN, EventKind.RETRIEVAL, EventKind.ANSWER]
    message, retrieval, answer = events
    assert message.channel == "whatsapp" and message.customer == customer_key(CUSTOMER, secret=SECRET)
    assert message.text is not None and "Lakeview" in message.text and "ana@example.com" not in message.text
    assert retrieval.confidence == reply.confidence and retrieval.data["documents"]
    assert answer.latency_ms is not None and answer.latency_ms > 0 and answer.data["grounded"] is True
    assert "ana@example.com" not in answer.data["question"] and answer.data["escalated"] is False
    assert answer.data["citations"] == sorted({c.document_id for c in reply.citations})


async def test_escalation_assignment_human_reply_and_resolution_are_logged(
    engine: sa.Engine, demo_agent: SupportAgent
) -> None:
    inbox, handoff, router, log = _setup(engine, demo_agent)
    router.upsert_agent(
        HumanAgent(
            id="ana",
            name="Ana Lopez",
            email="ana@example.com",
            languages=("en",),
            capacity={ChannelKind.MESSAGING: 2},
            status=AgentStatus.ONLINE,
        )
    )
    receipt = await inbox.receive(_whatsapp("Can I speak to a real person please?", "SM2"))
    reply = await inbox.answer_pending(receipt.conversation_id)
    assert reply is not None and reply.escalation is not None
    [offer] = router.offers(agent_id="ana")
    ticket = router.accept(offer.id, "ana")
    inbox.post_reply(
        receipt.conversation_id, "Hi, Ana here. Call me at +1 415 555 0100.", details={"console_agent_id": "ana"}
    )
    handoff.resolve(ticket.id, by="ana", reason="answered")
    log.flush()
    events = log.events(conversation_id=receipt.conversation_id)
    kinds = [e.kind for e in events]
    assert kinds[0] is EventKind.MESSAGE_IN and EventKind.ANSWER in kinds
    [escalation] = [e for e in events if e.kind is EventKind.ESCALATION]
    [assignment] = [e for e in events if e.kind is EventKind.ASSIGNMENT]
    [human] = [e for e in events if e.kind is EventKind.HUMAN_REPLY]
    [resolution] = [e for e in events if e.kind is EventKind.RESOLUTION]
    assert escalation.reason == "customer_asked_for_human" and escalation.channel == "whatsapp"
    assert escalation.data["priority"] == ticket.priority
    assert assignment.actor == "ana" and assignment.data["waited_s"] >= 0
    assert human.actor == "ana" and human.text is not None and "555 0100" not in human.text
    assert resolution.actor == "ana" and resolution.reason == "answered" and resolution.data["by"] == "human"
    assert kinds.index(EventKind.ESCALATION) < kinds.index(EventKind.ASSIGNMENT) < kinds.index(EventKind.RESOLUTION)
    assert {e.customer for e in events if e.kind is not EventKind.ANSWER} == {customer_key(CUSTOMER, secret=SECRET)}


async def test_going_back_to_the_assistant_is_a_resolution_by_the_customer(
    engine: sa.Engine, demo_agent: SupportAgent
) -> None:
    inbox, _, _, log = _setup(engine, demo_agent)
    await inbox.handle("c-back", "agent please")
    await inbox.handle("c-back", "I'll keep chatting with the assistant")
    log.flush()
    [resolution] = [e for e in log.events(conversation_id="c-back") if e.kind is EventKind.RESOLUTION]
    assert resolution.data["by"] == "customer" and resolution.actor is None
