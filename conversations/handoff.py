"""Handing conversations to people: a routing ticket for each escalated conversation, what the customer is
told while waiting, and the way back to the assistant.

The conversation's status (in `conversations`) and its routing ticket (in routing's tables) are written in
separate transactions, so a crash between the two could leave them apart; `Handoff.reconcile` (run by the
routing worker) brings them together again: an escalated conversation without an open ticket gets one (or, if
a person resolved its last ticket since, is marked resolved), and an open ticket whose conversation went back
to the bot is closed.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import anyio
import sqlalchemy as sa

from agent.types import AgentReply
from conversations.intake import utc
from conversations.sender_trust import with_unverified_line
from conversations.store import Conversation, ConversationStore, conversations_table, update_conversation
from knowledge.documents import Turn
from routing import Escalated, EscalationRequest, EventKind, Router, RoutingError, RoutingEvent, TicketState

logger = logging.getLogger(__name__)

KEEP_CHATTING = "Keep chatting with the assistant"
CHOSE_ASSISTANT = "customer_chose_assistant"
SUMMARY_CHARS = 600
SUMMARY_MESSAGES = 50
FRUSTRATED = 0.5


class Post(Protocol):
    """Sends a message to a conversation's customer (the inbox's `post_reply`)."""

    def __call__(self, conversation_id: str, text: str, *, author: str = ...) -> object: ...


@dataclass(frozen=True, slots=True)
class Reconciled:
    """What one reconciliation pass did."""

    escalated: int = 0
    marked_resolved: int = 0
    closed: int = 0


def wait_notice(escalated: Escalated | None) -> str:
    """What the customer is told about the wait, once the conversation has a ticket (or failed to get one)."""
    keep = f'While you wait, you can go on with me instead: just say "{KEEP_CHATTING.lower()}".'
    if escalated is None:
        return f"A person from our team will reply here as soon as possible. {keep}"
    if escalated.ticket.state is TicketState.ASSIGNED:
        return "A person from our team has your conversation and will reply here."
    if escalated.estimated_wait_seconds is None:
        return f"No one from our team is available right now; a person will reply here as soon as someone is. {keep}"
    minutes = max(1, math.ceil(escalated.estimated_wait_seconds / 60))
    place = f"You are number {escalated.position} in line" if escalated.position > 1 else "You are next in line"
    wait = "about a minute" if minutes == 1 else f"about {minutes} minutes"
    return f"{place}; the wait is {wait}. {keep}"


def summarize(history: Sequence[Turn], question: str, reply: AgentReply) -> str:
    """A short summary for the person who takes over: what the customer asked first and last, the intent
    and why the assistant handed over."""
    parts = _asked([turn.text for turn in history if turn.role == "customer"] + [question])
    if reply.intent is not None and not reply.intent.out_of_scope:
        parts.append(f"Intent: {reply.intent.name}" + (f" (skill {reply.intent.skill})" if reply.intent.skill else ""))
    if reply.escalation is not None:
        parts.append(f"Handed over: {reply.escalation.reason.value}; {reply.escalation.detail}".rstrip("; "))
    parts.append(
        f"Mood: {reply.sentiment.label.value}" + (", frustrated" if reply.sentiment.frustration >= FRUSTRATED else "")
    )
    return "\n".join(parts)[:SUMMARY_CHARS]


def _asked(asked: Sequence[str]) -> list[str]:
    """The summary's lines on what the customer asked first and, when it differs, last."""
    if not asked:
        return ["The customer asked for a person before writing anything."]
    first, last = asked[0].strip(), asked[-1].strip()
    return [f"First asked: {_clip(first)}", *([f"Latest: {_clip(last)}"] if last != first else [])]


def _clip(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class RoutingEvents:
    """Hands each routing event to every subscriber (the handoff, the console's live feed, notifications);
    a failing subscriber is logged and does not stop the others."""

    def __init__(self) -> None:
        self._subscribers: list[Callable[[RoutingEvent], None]] = []

    def subscribe(self, subscriber: Callable[[RoutingEvent], None]) -> None:
        """Receive every event from now on."""
        self._subscribers.append(subscriber)

    def __call__(self, event: RoutingEvent) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(event)
            except Exception:
                logger.exception("a routing subscriber failed on %s", event.kind.value)


class Handoff:
    """Opens routing tickets for escalated conversations and keeps conversations and tickets in step.

    `post(conversation_id, text, author)` sends a message to the customer (the inbox's `post_reply`); it
    announces the person who accepts a conversation.
    """

    def __init__(self, router: Router, store: ConversationStore, *, post: Post | None = None) -> None:
        self.router = router
        self.store = store
        self.post = post

    def escalate(self, conversation: Conversation, reply: AgentReply, summary: str) -> Escalated | None:
        """Queue the conversation for a person; None when routing failed (reconciliation tries again)."""
        escalation = reply.escalation
        if escalation is None:
            msg = "the reply does not escalate"
            raise ValueError(msg)
        intent = reply.intent
        request = EscalationRequest(
            conversation_id=conversation.id,
            channel=conversation.channel,
            skill=escalation.skill or (intent.skill if intent is not None else None),
            intent=intent.name if intent is not None and not intent.out_of_scope else None,
            priority=escalation.priority,
            language=conversation.language,
            reason=escalation.reason.value,
            summary=with_unverified_line(summary, self.store.messages(conversation.id, limit=SUMMARY_MESSAGES)),
        )
        return self._queue(request)

    def ask_for_person(self, conversation_id: str, reason: str) -> Escalated | None:
        """Queue a conversation whose customer asked for a person outright (the web chat's button); None when
        routing failed (reconciliation tries again)."""
        conversation = self.store.get(conversation_id)
        if conversation is None:
            msg = f"no conversation with id {conversation_id!r}"
            raise LookupError(msg)
        messages = self.store.messages(conversation_id, limit=SUMMARY_MESSAGES)
        asked = [m.text for m in messages if m.role == "customer"]
        summary = with_unverified_line("\n".join(_asked(asked)), messages)
        request = EscalationRequest(
            conversation_id=conversation.id,
            channel=conversation.channel,
            language=conversation.language,
            reason=reason,
            summary=f"{summary}\nHanded over: {reason}",
        )
        return self._queue(request)

    def _queue(self, request: EscalationRequest) -> Escalated | None:
        try:
            return self.router.escalate(request)
        except (RoutingError, sa.exc.SQLAlchemyError, ValueError):
            logger.exception(
                "routing could not queue conversation %s; reconciliation will retry", request.conversation_id
            )
            return None

    def back_to_assistant(self, conversation_id: str) -> None:
        """The customer chose the assistant: close the conversation's open ticket (if any)."""
        ticket = self.router.ticket_for(conversation_id)  # only a ticket that is not resolved
        if ticket is not None:
            self.router.resolve(ticket.id, by=None, reason=CHOSE_ASSISTANT)

    def resolve(self, ticket_id: int, *, by: str | None, reason: str) -> None:
        """A person resolved the conversation: close the ticket, then mark the conversation resolved."""
        ticket = self.router.resolve(ticket_id, by=by, reason=reason)
        self._set_status(ticket.conversation_id, "resolved", only_if="escalated")

    def on_event(self, event: RoutingEvent) -> None:
        """Routing listener: tell the customer when a person accepts their conversation."""
        if event.kind is EventKind.ACCEPTED and event.conversation_id and event.agent_id and self.post is not None:
            try:
                name = self.router.agent(event.agent_id).name.split()[0]
            except RoutingError:
                name = "A person from our team"
            try:
                self.post(event.conversation_id, f"{name} from our team has joined the conversation.", author="system")
            except (LookupError, ValueError, sa.exc.SQLAlchemyError):
                logger.exception("could not tell conversation %s that %s joined", event.conversation_id, name)

    def reconcile(self, *, older_than: dt.timedelta = dt.timedelta(seconds=30)) -> Reconciled:
        """Bring conversations and tickets together after a failure between their two writes; only rows
        untouched for `older_than` are considered, so that work in flight is left alone."""
        cutoff = dt.datetime.now(dt.UTC) - older_than
        c = conversations_table.c
        waiting = (TicketState.QUEUED, TicketState.OFFERED, TicketState.ASSIGNED)
        open_tickets = self.router.tickets(states=waiting, limit=100_000)
        with_ticket = {ticket.conversation_id for ticket in open_tickets}
        with self.store.engine.connect() as conn:
            escalated = conn.execute(
                sa.select(c.id, c.escalated_at).where(c.status == "escalated", c.updated_at < cutoff)
            ).all()
            statuses = dict(
                conn.execute(sa.select(c.id, c.status).where(c.id.in_(sorted(with_ticket)))).all()
                if with_ticket
                else []
            )
        orphans = [(row.id, row.escalated_at) for row in escalated if row.id not in with_ticket]
        stray = [
            ticket.id
            for ticket in open_tickets
            if statuses.get(ticket.conversation_id, "escalated") != "escalated" and utc(ticket.created_at) < cutoff
        ]
        escalated_again = marked_resolved = closed = 0
        for conversation_id, escalated_at in orphans:
            last = self.router.last_ticket(conversation_id)
            if last is not None and last.resolved_at is not None and escalated_at is not None:
                if utc(last.resolved_at) >= utc(escalated_at):
                    self._set_status(conversation_id, "resolved", only_if="escalated")
                    marked_resolved += 1
                    continue
            conversation = self.store.get(conversation_id)
            if conversation is None:
                continue
            request = EscalationRequest(
                conversation_id=conversation.id,
                channel=conversation.channel,
                language=conversation.language,
                reason=conversation.escalation_reason or "",
            )
            try:
                self.router.escalate(request)
            except (RoutingError, ValueError):
                logger.exception("routing refused conversation %s", conversation_id)
                continue
            escalated_again += 1
        for ticket_id in stray:
            try:
                self.router.resolve(ticket_id, by=None, reason=CHOSE_ASSISTANT)
            except RoutingError:
                logger.exception("could not close ticket %s", ticket_id)
                continue
            closed += 1
        return Reconciled(escalated_again, marked_resolved, closed)

    def _set_status(self, conversation_id: str, status: str, *, only_if: str) -> None:
        with self.store.engine.begin() as conn:
            update_conversation(
                conn, conversation_id, only_if_status=only_if, status=status, updated_at=dt.datetime.now(dt.UTC)
            )


class RoutingWorker:
    """Runs routing's timers (offer expiry, SLA breaches, widening, then dispatch) and reconciliation."""

    def __init__(self, handoff: Handoff, *, poll_interval: float = 1.0, reconcile_interval: float = 30.0) -> None:
        self.handoff = handoff
        self.poll_interval = poll_interval
        self.reconcile_interval = reconcile_interval

    async def run(self) -> None:
        """Until cancelled; a failing pass is logged and retried at the next one."""
        router = self.handoff.router
        last_reconcile = 0.0
        while True:
            try:
                await anyio.to_thread.run_sync(router.work)
                if anyio.current_time() - last_reconcile >= self.reconcile_interval:
                    last_reconcile = anyio.current_time()
                    await anyio.to_thread.run_sync(self.handoff.reconcile)
                deadline = await anyio.to_thread.run_sync(router.next_deadline)
            except Exception:
                logger.exception("a routing pass failed; retrying")
                deadline = None
            delay = self.poll_interval
            if deadline is not None:
                delay = min(delay, max(0.05, (deadline - router.now()).total_seconds()))
            await anyio.sleep(delay)
