"""The inbox: stores each customer message first, then has the agent answer it, then delivers the answer.

Two paths share one store and one queue (see `conversations.intake`):

- in-band (web chat, the API, voice): the caller holds the connection, so the answer streams back to it
  right away and is stored; nothing goes through the outbox.
- queued (WhatsApp, SMS, e-mail): the provider's request is acknowledged once the message is stored; a
  `ReplyWorker` answers queued conversations and puts each answer in the outbox, in the same transaction
  that stores it and takes the message off the queue.

A conversation that a person holds (escalated) is not answered by the agent: its messages are stored for
the person, and the in-band caller is told that a person will reply.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import anyio
import sqlalchemy as sa

from agent.agent import ConversationMemory, SupportAgent, failure_reply
from agent.escalation import EscalationPolicy
from agent.guardrails import redact
from agent.sentiment import analyze_sentiment
from agent.types import AgentReply, Escalation, EscalationReason, Intent, Sentiment, SentimentLabel, TextDelta
from channels.messages import InboundMessage, Link
from conversations.handoff import Handoff, summarize, wait_notice
from conversations.hours import BusinessHours
from conversations.intake import Claim, Intake, Receipt, pending_replies_table
from conversations.interactions import Interactions
from conversations.outbox import Doorbell, enqueue
from conversations.replies import Addressing, Replies
from conversations.store import (
    Conversation,
    ConversationStore,
    StoredMessage,
    insert_message,
    update_conversation,
)
from knowledge.documents import Citation, Turn

logger = logging.getLogger(__name__)

HISTORY_TURNS = 20
WITH_A_PERSON = "Thanks, a person from our team has this conversation and will reply here."


def reply_details(reply: AgentReply) -> dict[str, Any]:
    """The reply as plain JSON-able data (for storage and the API)."""
    data = dataclasses.asdict(reply)
    data.pop("text", None)
    return data


def redact_text(text: str) -> str:
    """Personal data replaced by placeholders, as stored and shown to the model."""
    return redact(text).text


class ConversationBusyError(RuntimeError):
    """Another worker is answering this conversation right now."""


class AnsweredBy(StrEnum):
    """Who answered a customer's message in-band."""

    AGENT = "agent"  # the agent answered it now; the answer is stored
    STORED = "stored"  # a provider's retry of a message answered before: the stored answer, again
    PERSON = "person"  # a person holds the conversation: the customer is told so; nothing is stored
    BUSY = "busy"  # a retry of a message still being answered (by another request or worker): nothing to add


@dataclass(frozen=True, slots=True)
class Received:
    """The first event of `Inbox.converse`: the customer's message is stored (or was, for a retry)."""

    receipt: Receipt


@dataclass(frozen=True, slots=True)
class Answered:
    """How `Inbox.converse` ended: the stored message, who answered, the answer and its stored id.

    `reply` is None only when `by` is `BUSY`. `answer_id` is the stored answer's id (for `AGENT` and `STORED`),
    `status` the conversation's status after the turn. Channels take all of it from here and query nothing.
    """

    receipt: Receipt
    by: AnsweredBy
    reply: AgentReply | None
    answer_id: int | None
    status: str

    @property
    def answer(self) -> AgentReply:
        """The reply, for callers that always get one (nothing but a provider's retry is ever `BUSY`)."""
        if self.reply is None:
            msg = f"message {self.receipt.message_id} is still being answered"
            raise ConversationBusyError(msg)
        return self.reply


ConverseEvent = Received | TextDelta | Answered


@dataclass(frozen=True, slots=True)
class Prepared:
    """What the agent needs to answer claimed messages: the conversation, the question as written and as
    stored (personal data replaced), and the memory of the conversation so far."""

    conversation: Conversation
    question: str
    redacted_question: str
    memory: ConversationMemory


async def final_answer(events: AsyncIterator[ConverseEvent]) -> Answered:
    """The `Answered` that ends a `converse` stream (what came before it is dropped)."""
    final: Answered | None = None
    async for event in events:
        if isinstance(event, Answered):
            final = event
    if final is None:  # pragma: no cover - converse always ends with its result
        msg = "the conversation's stream ended without a result"
        raise RuntimeError(msg)
    return final


class Inbox:
    """Persist first, answer after: a message is stored before the agent sees it."""

    def __init__(
        self,
        store: ConversationStore,
        agent: SupportAgent,
        policy: EscalationPolicy,
        *,
        intake: Intake | None = None,
        addressing: Mapping[str, Addressing] | None = None,
        outbox: Doorbell | None = None,
        queued: Doorbell | None = None,
        hours: BusinessHours | None = None,
        handoff: Handoff | None = None,
        interactions: Interactions | None = None,
        replies: Replies | None = None,
    ) -> None:
        """`outbox` rings the outbox worker when a message is enqueued for delivery, `queued` the reply worker
        when a message waits for an answer; `handoff` opens routing tickets for escalations; `interactions`
        logs what happens for analytics; `replies` stores and sends what people and the system write (by
        default one built from the same parts)."""
        self.store = store
        self.agent = agent
        self.policy = policy
        self.intake = intake or Intake(store.engine)
        self.outbox = outbox or (replies.outbox if replies is not None else Doorbell())
        self.queued = queued or Doorbell()
        self.hours = hours or BusinessHours()
        self.handoff = handoff
        self.interactions = interactions
        self.replies = replies or Replies(store, addressing=addressing, outbox=self.outbox, interactions=interactions)

    # Receiving.

    async def receive(self, message: InboundMessage, *, answer: bool = True, claim: bool = False) -> Receipt:
        """Store a message (once, whatever the provider retries); queue it for the `ReplyWorker` when the
        bot holds the conversation and `answer` is true, or, with `claim`, take it for the caller to answer."""
        receipt = await anyio.to_thread.run_sync(lambda: self._store(message, answer=answer, claim=claim))
        await self._after_store(receipt)
        return receipt

    async def _after_store(self, receipt: Receipt) -> None:
        """What follows storing: the ticket closed when the customer chose the assistant, the customer told of
        attachments over quota, the reply worker woken for a queued message."""
        if receipt.previous_status == "escalated" and receipt.status == "bot" and self.handoff is not None:
            try:  # the customer chose the assistant; if this fails, reconciliation closes the ticket later
                await anyio.to_thread.run_sync(self.handoff.back_to_assistant, receipt.conversation_id)
            except Exception:
                logger.exception("could not close the ticket of conversation %s", receipt.conversation_id)
        if receipt.dropped_attachments and not receipt.duplicate:
            await self._tell_dropped(receipt)
        if receipt.queued and receipt.claim is None and not receipt.duplicate:
            self.queued.ring()

    def _store(self, message: InboundMessage, *, answer: bool, claim: bool) -> Receipt:
        """Store and log one message (redaction included): one hop off the event loop per message."""
        receipt = self.intake.receive(message, redact=redact_text, answer=answer, claim=claim)
        if not receipt.duplicate and self.interactions is not None:
            self.interactions.message_in(message, receipt.conversation_id, redacted=receipt.stored_text)
        return receipt

    async def _tell_dropped(self, receipt: Receipt) -> None:
        """Tell the customer, on their channel, which attachments of their message were not kept (over quota)."""
        names = ", ".join(receipt.dropped_attachments)
        text = (
            f"We received your message, but could not keep these attachments: {names} (too many files). "
            "Please send only what we need, or paste the details as text."
        )
        try:
            await anyio.to_thread.run_sync(
                lambda: self.post_reply(
                    receipt.conversation_id, text, author="system", details={"event": "attachments_dropped"}
                )
            )
        except (LookupError, ValueError, sa.exc.SQLAlchemyError):
            logger.exception("could not tell conversation %s about its dropped attachments", receipt.conversation_id)

    # The in-band path.

    async def handle(self, conversation_id: str, text: str, *, channel: str = "api") -> Answered:
        """Store the message, answer it, store the answer."""
        return await final_answer(self.handle_stream(conversation_id, text, channel=channel))

    async def handle_stream(
        self, conversation_id: str, text: str, *, channel: str = "api"
    ) -> AsyncIterator[ConverseEvent]:
        """Like `handle`, yielding the answer text as it is written."""
        if not text.strip():
            msg = "the message is empty"
            raise ValueError(msg)
        message = InboundMessage(
            channel=channel, sender=f"{channel}:{conversation_id}", text=text, conversation_id=conversation_id
        )
        async for event in self.converse(message):
            yield event

    async def converse(self, message: InboundMessage) -> AsyncIterator[ConverseEvent]:
        """The in-band path for any channel: store the message (`Received`), stream the answer (`TextDelta`s),
        store it, and end with `Answered`. A provider's retry of a message already answered gets the stored
        answer again; a retry of one still being answered gets `BUSY`."""
        # Stored and claimed in one transaction (so the `ReplyWorker` cannot take the message meanwhile), and
        # what the agent needs read in the same hop off the event loop.
        receipt, prepared = await anyio.to_thread.run_sync(lambda: self._store_and_prepare(message))
        await self._after_store(receipt)
        yield Received(receipt)
        if receipt.duplicate:
            yield await anyio.to_thread.run_sync(self._retried, receipt)
            return
        if prepared is None:  # held by a person (or queued for one): the customer is told so
            reply = await anyio.to_thread.run_sync(self._with_a_person, receipt.conversation_id)
            yield Answered(receipt, AnsweredBy.PERSON, reply, None, receipt.status)
            return
        claim, ready = prepared
        answer: tuple[AgentReply, int] | None = None
        async for event in self._answer(claim, deliver=False, prepared=ready):
            if isinstance(event, TextDelta):
                yield event
            else:
                answer = event
        if answer is None:  # pragma: no cover - _answer always ends with the stored answer
            msg = "the answer stream ended without an answer"
            raise RuntimeError(msg)
        reply, answer_id = answer
        status = "escalated" if reply.escalation is not None else receipt.status
        yield Answered(receipt, AnsweredBy.AGENT, reply, answer_id, status)

    def _store_and_prepare(self, message: InboundMessage) -> tuple[Receipt, tuple[Claim, Prepared] | None]:
        receipt = self._store(message, answer=True, claim=True)
        claim = receipt.claim
        if receipt.duplicate or not receipt.queued or claim is None:
            return receipt, None
        try:
            return receipt, (claim, self._prepare(claim))
        except BaseException:
            self.intake.release(claim)
            raise

    def _retried(self, receipt: Receipt) -> Answered:
        for stored in self.store.messages_after(receipt.conversation_id, receipt.message_id):
            if stored.role == "agent":
                return Answered(receipt, AnsweredBy.STORED, stored_reply(stored), stored.id, receipt.status)
        if receipt.queued:
            return Answered(receipt, AnsweredBy.BUSY, None, None, receipt.status)
        return Answered(receipt, AnsweredBy.PERSON, self._with_a_person(receipt.conversation_id), None, receipt.status)

    def _with_a_person(self, conversation_id: str) -> AgentReply:
        history = self._history(conversation_id, before=None)
        text = history[-1].text if history else ""
        return dataclasses.replace(
            failure_reply(RuntimeError("held by a person"), analyze_sentiment(text, history[:-1])),
            text=WITH_A_PERSON,
            escalation=None,
        )

    # The queued path.

    async def answer_pending(self, conversation_id: str) -> AgentReply | None:
        """Answer the queued messages of one conversation and put the answer in the outbox; None when
        nothing was queued or another worker holds them."""
        claim = await anyio.to_thread.run_sync(self.intake.claim, conversation_id)
        if claim is None:
            return None
        answer: tuple[AgentReply, int] | None = None
        async for event in self._answer(claim, deliver=True):
            if not isinstance(event, TextDelta):
                answer = event
        return None if answer is None else answer[0]

    async def _answer(
        self,
        claim: Claim,
        *,
        deliver: bool,
        prepared: Prepared | None = None,
    ) -> AsyncIterator[TextDelta | tuple[AgentReply, int]]:
        """The agent's answer to the claimed messages, streamed, then stored: ends with (reply, stored id)."""
        started = time.perf_counter()
        if prepared is None:
            try:
                prepared = await anyio.to_thread.run_sync(self._prepare, claim)
            except BaseException:
                await anyio.to_thread.run_sync(self.intake.release, claim)
                raise
        conversation, question, memory = prepared.conversation, prepared.question, prepared.memory
        redacted_question = prepared.redacted_question
        reply: AgentReply | None = None
        try:
            async for event in self.agent.reply_stream(question, memory):
                if isinstance(event, AgentReply):
                    reply = event
                else:
                    yield event
        except Exception as exc:  # the customer gets a person, never an error
            logger.exception("the agent failed on conversation %s", claim.conversation_id)
            sentiment = await anyio.to_thread.run_sync(lambda: analyze_sentiment(redacted_question, memory.history))
            reply = failure_reply(exc, sentiment)
            yield TextDelta(reply.text)
        if reply is None:  # pragma: no cover - reply_stream always ends with a reply
            msg = "the agent's stream ended without a reply"
            raise RuntimeError(msg)
        notice = self.hours.closed_notice(conversation.channel) if reply.escalation is not None else None
        if reply.escalation is not None and self.handoff is not None:
            handoff, escalating = self.handoff, reply
            escalated = await anyio.to_thread.run_sync(
                lambda: handoff.escalate(
                    conversation, escalating, summarize(memory.history, redacted_question, escalating)
                )
            )
            notice = notice or wait_notice(escalated)  # outside the hours, when a person will reply says enough
        if notice is not None:
            reply = dataclasses.replace(reply, text=f"{reply.text}\n\n{notice}")
            yield TextDelta(f"\n\n{notice}")
        final = reply

        def complete() -> int:  # storing and logging (with redaction) in one hop off the event loop
            answer_id = self._complete(claim, conversation, memory, final, deliver=deliver)
            if self.interactions is not None:
                latency = (time.perf_counter() - started) * 1000
                self.interactions.answered(
                    conversation, redacted_question, final, latency_ms=round(latency, 2), question_redacted=True
                )
            return answer_id

        answer_id = await anyio.to_thread.run_sync(complete)
        if deliver:
            self.outbox.ring()
        yield final, answer_id

    def _prepare(self, claim: Claim) -> Prepared:
        with self.store.engine.connect() as conn:  # three reads, one connection
            conversation = self.store.get(claim.conversation_id, conn=conn)
            if conversation is None:
                msg = f"conversation {claim.conversation_id!r} vanished"
                raise LookupError(msg)
            pending = [m for m in self.store.messages_by_id(claim.message_ids, conn=conn) if m.role == "customer"]
            history = self._history(claim.conversation_id, before=min(claim.message_ids), conn=conn)
        # The original text reaches the agent (it redacts before any model sees it); stored text is redacted.
        question = "\n".join((m.original_text or m.text) for m in pending)
        memory = ConversationMemory(
            history=history, bot_turns=conversation.bot_turns, ungrounded_streak=conversation.ungrounded_streak
        )
        return Prepared(conversation, question, "\n".join(m.text for m in pending), memory)

    def _history(
        self, conversation_id: str, *, before: int | None, conn: sa.Connection | None = None
    ) -> tuple[Turn, ...]:
        messages = self.store.messages(conversation_id, limit=HISTORY_TURNS, before=before, conn=conn)
        return tuple(
            Turn(role="customer" if m.role == "customer" else "agent", text=m.text)
            for m in messages
            if m.role in {"customer", "agent", "human"}
        )

    def _complete(
        self, claim: Claim, conversation: Conversation, memory: ConversationMemory, reply: AgentReply, *, deliver: bool
    ) -> int:
        """Store the answer, update the conversation, enqueue delivery and take the messages off the queue,
        all in one transaction; a worker that lost its lease meanwhile stores nothing. Returns the answer's id."""
        now = dt.datetime.now(dt.UTC)
        streak = memory.ungrounded_streak + 1 if not reply.grounded and reply.escalation is None else 0
        pending = pending_replies_table.c
        # Addressing may record keys (an e-mail reply token): it runs before the transaction, not inside it.
        outbound = (
            self.replies.outbound(
                conversation,
                reply.text,
                author="agent",
                citations=_links(reply),
                message_id=f"reply-{max(claim.message_ids)}",
            )
            if deliver
            else None
        )
        with self.store.engine.begin() as conn:
            removed = conn.execute(
                sa.delete(pending_replies_table).where(pending.claim == claim.token, pending.claimed_until >= now)
            ).rowcount
            if removed != len(claim.message_ids):
                msg = f"the lease on conversation {claim.conversation_id!r} ran out before its answer was stored"
                raise ConversationBusyError(msg)
            answer_id = insert_message(
                conn, claim.conversation_id, "agent", reply.text, now=now, details=_json(reply_details(reply))
            )
            values: dict[str, Any] = {"updated_at": now, "bot_turns": memory.bot_turns + 1, "ungrounded_streak": streak}
            if reply.escalation is not None:
                values.update(status="escalated", escalation_reason=reply.escalation.reason.value, escalated_at=now)
            update_conversation(conn, claim.conversation_id, **values)
            if outbound is not None:
                enqueue(conn, outbound, dedupe_key=outbound.message_id, now=now)
        return int(answer_id)

    # Replies from people and the system, and delivery details.

    def post_reply(
        self, conversation_id: str, text: str, *, author: str = "human", details: dict[str, Any] | None = None
    ) -> StoredMessage:
        """Store a reply written by a person (or the system) and put it in the outbox, in one transaction."""
        return self.replies.post(conversation_id, text, author=author, details=details)


class ReplyWorker:
    """Answers queued conversations in the background: woken by the inbox, and by a poll that also picks up
    messages whose worker died (its lease ran out)."""

    def __init__(
        self, inbox: Inbox, *, doorbell: Doorbell | None = None, poll_interval: float = 2.0, concurrency: int = 4
    ) -> None:
        self.inbox = inbox
        self.doorbell = doorbell or inbox.queued
        self.poll_interval = poll_interval
        self._limiter = anyio.CapacityLimiter(concurrency)
        self._busy: set[str] = set()

    async def run(self) -> None:
        """Answer until cancelled; a failing database or agent is logged and retried, never fatal."""
        async with anyio.create_task_group() as group:
            while True:
                try:
                    waiting = await anyio.to_thread.run_sync(self.inbox.intake.waiting_conversations)
                except sa.exc.SQLAlchemyError:
                    logger.exception("the reply queue could not be read")
                    waiting = []
                for conversation_id in waiting:
                    if conversation_id not in self._busy:
                        self._busy.add(conversation_id)
                        group.start_soon(self._answer, conversation_id)
                await self.doorbell.wait(self.poll_interval)

    async def _answer(self, conversation_id: str) -> None:
        try:
            async with self._limiter:
                await self.inbox.answer_pending(conversation_id)
        except Exception:  # retried when the lease runs out; the message stays queued
            logger.exception("answering conversation %s failed; it stays queued", conversation_id)
        finally:
            self._busy.discard(conversation_id)
            self.doorbell.ring()


def stored_reply(message: StoredMessage) -> AgentReply:
    """An `AgentReply` rebuilt from a stored agent message (for a provider's retry)."""
    details = message.details
    sentiment = details.get("sentiment") or {}
    escalation = details.get("escalation")
    intent = details.get("intent")
    return AgentReply(
        text=message.text,
        citations=tuple(Citation(**c) for c in details.get("citations", ())),
        confidence=float(details.get("confidence", 0.0)),
        grounded=bool(details.get("grounded", False)),
        intent=Intent(**intent) if intent else None,
        sentiment=Sentiment(
            label=SentimentLabel(sentiment.get("label", "neutral")),
            score=float(sentiment.get("score", 0.0)),
            frustration=float(sentiment.get("frustration", 0.0)),
            signals=tuple(sentiment.get("signals", ())),
        ),
        escalation=Escalation(
            reason=EscalationReason(escalation["reason"]),
            detail=escalation.get("detail", ""),
            skill=escalation.get("skill"),
            priority=int(escalation.get("priority", 3)),
        )
        if escalation
        else None,
        answered_from_knowledge=bool(details.get("answered_from_knowledge", False)),
        writer=str(details.get("writer", "stored")),
        standalone_question=str(details.get("standalone_question", "")),
        timings_ms={},
    )


def _links(reply: AgentReply) -> list[Link]:
    return [Link(title=c.title, url=c.url) for c in reply.citations]


def _json(data: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(data, default=str))
