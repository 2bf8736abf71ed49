"""The web chat service: visitor sessions, history, answers, hand-off to a person and ratings.

It joins the web chat channel (tokens, hub, `WebchatChannel`) to the inbox. A visitor's message goes through
`Inbox.converse` like any in-band channel's, with a provider message id scoped to the conversation, so that
a client retrying the same message id gets the stored answer instead of a second one, and two visitors can
never collide on an id. Every frame about a conversation is pushed to all the windows the visitor has open
on it (through the hub) as well as returned to the caller, so a second tab, or a window that reconnected
while an answer was being written, sees it too.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import sqlalchemy as sa

from agent.types import EscalationReason
from channels.base import DeliveryError
from channels.messages import InboundMessage, Link
from channels.webchat import protocol
from channels.webchat.channel import WebchatChannel
from channels.webchat.hub import WebchatHub
from channels.webchat.relay import LocalRelay, Relay
from channels.webchat.tokens import VisitorSession, VisitorTokens, new_visitor_id
from conversations.handoff import wait_notice
from conversations.inbox import Answered, Inbox, Received, redact_text
from conversations.intake import new_conversation_id, utc
from conversations.store import StoredMessage, insert_message, update_conversation
from routing import Escalated

logger = logging.getLogger(__name__)

CHANNEL = "webchat"
SECRET_FILE = "webchat_secret"
HISTORY_LIMIT = 200
VISIBLE = "visible_to_customer"
PROACTIVE = "proactive_notice"  # a notice about a known incident, shown to customers asking about it

Frame = dict[str, Any]


class WebchatError(Exception):
    """Base of the web chat service's errors."""


class ForbiddenError(WebchatError):
    """A valid token used on a conversation it does not open (answered with 403)."""


class ConversationNotFoundError(WebchatError):
    """The token's conversation no longer exists (answered with 404)."""


@dataclass(frozen=True, slots=True)
class Session:
    """A new visitor's session: the token the widget keeps and what it stands for."""

    token: str
    visitor: VisitorSession
    expires_at: dt.datetime


@dataclass(frozen=True, slots=True)
class History:
    """A conversation as its visitor sees it."""

    conversation_id: str
    status: str
    notice: str | None
    rating: int | None
    items: tuple[protocol.HistoryItem, ...]

    def hello(self) -> Frame:
        """The `hello` frame that opens every connection."""
        return protocol.hello(self.conversation_id, self.status, self.items, notice=self.notice, rating=self.rating)

    def as_json(self) -> Frame:
        """The history as the REST API returns it."""
        frame = self.hello()
        frame.pop("type")
        frame["messages"] = frame.pop("history")
        return frame


class WebchatService:
    """Web chat sessions over one inbox; `channel` is the `Channel` to register for outbox deliveries."""

    def __init__(
        self,
        inbox: Inbox,
        tokens: VisitorTokens,
        hub: WebchatHub | None = None,
        *,
        human_reply_minutes: int = 10,
        relay: Relay | None = None,
        proactive: Callable[[str], tuple[str, str] | None] | None = None,
    ) -> None:
        """`proactive(text)`: the notice for a message's topic, if a supervisor switched one on for an emerging
        issue, as (alert id, text)."""
        if human_reply_minutes < 1:
            msg = f"human_reply_minutes must be at least 1, got {human_reply_minutes}"
            raise ValueError(msg)
        self.inbox = inbox
        self.tokens = tokens
        self.hub = hub or WebchatHub()
        self.relay: Relay = relay or LocalRelay(self.hub)
        self.channel = WebchatChannel(self.hub, name=CHANNEL, relay=self.relay)
        self.human_reply_minutes = human_reply_minutes
        self.proactive = proactive

    @property
    def engine(self) -> sa.Engine:
        return self.inbox.store.engine

    def human_notice(self, escalated: Escalated | None = None) -> str:
        """What a visitor who asked for a person is told: outside business hours, when someone will reply;
        otherwise the place in line and the wait routing estimates (or the usual wait when it cannot)."""
        leave = "You can leave this page: the conversation will be here when you come back."
        closed = self.inbox.hours.closed_notice("webchat")
        if closed is not None:
            return f"Thanks. {closed} {leave}"
        if escalated is not None and escalated.estimated_wait_seconds is not None:
            return f"Thanks. A person from our team will reply here. {wait_notice(escalated)}"
        if escalated is not None:  # nobody who could take it is online
            return f"Thanks. A person from our team will reply here as soon as someone is available. {leave}"
        usually = f"usually within {self.human_reply_minutes} minutes"
        return f"Thanks. A person from our team will reply here, {usually}. {leave}"

    def waiting_notice(self) -> str:
        """The line shown while the visitor waits for a person."""
        closed = self.inbox.hours.closed_notice("webchat")
        if closed is not None:
            return closed
        return f"Waiting for a person from our team: usually a reply within {self.human_reply_minutes} minutes."

    def _escalated(self, reason: str, escalated: Escalated | None = None) -> Frame:
        text = self.human_notice(escalated)
        return protocol.status("escalated", reason=reason, text=text, notice=self.waiting_notice())

    # Sessions and access.

    async def start_session(self) -> Session:
        """A new visitor with a new, empty conversation, and the token that opens it."""
        return await anyio.to_thread.run_sync(self._start_session)

    def _start_session(self) -> Session:
        visitor_id = new_visitor_id()
        conversation_id = new_conversation_id(CHANNEL)
        self.inbox.store.get_or_create(conversation_id, channel=CHANNEL, customer_ref=visitor_id)
        token = self.tokens.issue(visitor_id, conversation_id)
        visitor = self.tokens.verify(token)
        return Session(token, visitor, visitor.issued_at + self.tokens.max_age)

    async def authorize(self, token: str | None, conversation_id: str | None = None) -> VisitorSession:
        """The session of a valid token whose conversation exists and is the visitor's. Raises `TokenError`
        (401), `ForbiddenError` (403) or `ConversationNotFoundError` (404)."""
        session = self.tokens.verify(token)
        if conversation_id is not None and conversation_id != session.conversation_id:
            msg = f"this visitor token does not open conversation {conversation_id!r}"
            raise ForbiddenError(msg)
        conversation = await anyio.to_thread.run_sync(self.inbox.store.get, session.conversation_id)
        if conversation is None:
            msg = f"conversation {session.conversation_id!r} no longer exists; start a new session"
            raise ConversationNotFoundError(msg)
        if conversation.channel != CHANNEL or conversation.customer_ref != session.visitor_id:
            msg = f"conversation {session.conversation_id!r} does not belong to this visitor"
            raise ForbiddenError(msg)
        return session

    # Reading.

    async def history(self, session: VisitorSession, *, after: int | None = None) -> History:
        """The conversation as the visitor sees it (only messages after id `after` when given)."""
        return await anyio.to_thread.run_sync(lambda: self._history(session.conversation_id, after))

    def _history(self, conversation_id: str, after: int | None) -> History:
        conversation = self.inbox.store.get(conversation_id)
        if conversation is None:
            msg = f"conversation {conversation_id!r} no longer exists; start a new session"
            raise ConversationNotFoundError(msg)
        messages = self.inbox.store.messages(conversation_id)
        items = [_item(m, conversation_id) for m in messages if _visible(m)]
        if after is not None:
            items = [item for item in items if item.id > after]
        return History(
            conversation_id=conversation_id,
            status=conversation.status,
            notice=self.waiting_notice() if conversation.status == "escalated" else None,
            rating=_latest_rating(messages),
            items=tuple(items[-HISTORY_LIMIT:]),
        )

    # Writing.

    async def converse(self, session: VisitorSession, client_id: str, text: str) -> AsyncIterator[Frame]:
        """Store the visitor's message and answer it: `customer_message`, `typing`, `delta`s, the `reply`
        and, when the conversation went to a person (or came back), a `status`. Each frame is also pushed to
        the visitor's open windows. A retry of a message still being answered yields only `typing`: the answer
        reaches every open window when it is done."""
        conversation_id = session.conversation_id
        message = InboundMessage(
            channel=CHANNEL,
            sender=session.visitor_id,
            text=text,
            conversation_id=conversation_id,
            provider_message_id=f"{conversation_id}:{client_id}",
        )
        answered: Answered | None = None
        async for event in self.inbox.converse(message):
            if isinstance(event, Received):
                if event.receipt.duplicate and event.receipt.queued:
                    continue  # being answered: only `typing`, below
                yield await self._emit(conversation_id, protocol.customer_message(client_id, text))
                if (notice := await self._proactive_notice(conversation_id, text)) is not None:
                    yield await self._emit(conversation_id, notice)
                yield await self._emit(conversation_id, protocol.typing("agent"))
            elif isinstance(event, Answered):
                answered = event
            elif (piece := protocol.delta(client_id, event.text))["text"]:
                yield await self._emit(conversation_id, piece)
        if answered is None:  # pragma: no cover - converse always ends with its result
            msg = "the inbox's answer stream ended without a result"
            raise RuntimeError(msg)
        reply = answered.reply
        if reply is None:  # another request is answering this very message
            yield await self._emit(conversation_id, protocol.typing("agent"))
            return
        receipt = answered.receipt
        yield await self._emit(
            conversation_id,
            protocol.reply(
                client_id,
                reply.text,
                tuple(Link(title=c.title, url=c.url) for c in reply.citations),
                message_id=answered.answer_id,
                customer_message_id=receipt.message_id,
                escalated=reply.escalation is not None,
            ),
        )
        if reply.escalation is not None:  # the reply itself says what happens next; the status sets the banner
            frame = protocol.status("escalated", reason=reply.escalation.reason.value, notice=self.waiting_notice())
            yield await self._emit(conversation_id, frame if self.inbox.handoff else self._escalated(frame["reason"]))
        elif receipt.previous_status == "escalated" and receipt.status == "bot":
            yield await self._emit(conversation_id, protocol.status("bot"))  # the visitor chose the assistant

    async def request_human(self, session: VisitorSession) -> Frame:
        """Hand the conversation to a person (reason `customer_asked_for_human`), record it with a note the
        visitor sees, and tell every open window. Asking again while waiting changes nothing."""
        reason = EscalationReason.CUSTOMER_ASKED.value
        handoff = self.inbox.handoff
        escalated = (
            await anyio.to_thread.run_sync(handoff.ask_for_person, session.conversation_id, reason)
            if handoff is not None
            else None
        )
        await anyio.to_thread.run_sync(self._escalate, session.conversation_id, self.human_notice(escalated))
        return await self._emit(session.conversation_id, self._escalated(reason, escalated))

    def _escalate(self, conversation_id: str, notice: str) -> bool:
        now = dt.datetime.now(dt.UTC)
        reason = EscalationReason.CUSTOMER_ASKED.value
        with self.engine.begin() as conn:
            changed = update_conversation(
                conn,
                conversation_id,
                unless_status="escalated",
                status="escalated",
                escalation_reason=reason,
                escalated_at=now,
                updated_at=now,
            )
            if changed != 1:
                return False
            details = {"event": "human_requested", "reason": reason, "channel": CHANNEL, VISIBLE: True}
            insert_message(conn, conversation_id, "system", notice, now=now, details=details)
        return True

    async def rate(self, session: VisitorSession, score: int, comment: str | None = None) -> Frame:
        """Store the visitor's rating of the conversation (the latest one counts)."""
        if not 1 <= score <= 5:
            msg = f"a rating is 1 to 5, got {score}"
            raise ValueError(msg)
        await anyio.to_thread.run_sync(lambda: self._store_rating(session.conversation_id, score, comment))
        return await self._emit(session.conversation_id, protocol.rated(score))

    def _store_rating(self, conversation_id: str, score: int, comment: str | None) -> None:
        """Redact, store and log a rating (off the event loop: redaction is CPU work on the visitor's text)."""
        note = redact_text(comment.strip()) if comment and comment.strip() else None
        text = f"The customer rated the conversation {score}/5" + (f": {note}" if note else ".")
        details = {"event": "rating", "rating": score, "comment": note, "channel": CHANNEL, VISIBLE: False}
        self.inbox.store.add_message(conversation_id, "system", text, details=details)
        interactions = self.inbox.interactions
        if interactions is not None:
            conversation = self.inbox.store.get(conversation_id)
            if conversation is not None:
                interactions.rated(conversation, score, note)

    def visitor_typing(self, session: VisitorSession) -> None:
        """Note that the visitor is typing."""
        self.hub.visitor_typing(session.conversation_id)

    # Helpers.

    async def _proactive_notice(self, conversation_id: str, text: str) -> Frame | None:
        """The notice a supervisor switched on for the topic of this message (an incident the team knows
        about), stored in the conversation and sent once per conversation and alert; None otherwise."""
        proactive = self.proactive
        if proactive is None:
            return None
        try:
            found = await anyio.to_thread.run_sync(proactive, text)
        except Exception:  # the notice is a courtesy: the answer must not wait on it
            logger.exception("could not look up a proactive notice for conversation %s", conversation_id)
            return None
        if found is None:
            return None
        alert_id, notice = found
        stored = await anyio.to_thread.run_sync(lambda: self._store_notice(conversation_id, alert_id, notice))
        if stored is None:
            return None
        return protocol.delivered("notice", f"notice-{stored}", notice, ())

    def _store_notice(self, conversation_id: str, alert_id: str, notice: str) -> int | None:
        """Store the notice as a visible system message unless this conversation already has it."""
        for message in self.inbox.store.messages(conversation_id, limit=200):
            if message.details.get("event") == PROACTIVE and message.details.get("alert") == alert_id:
                return None
        details = {"event": PROACTIVE, "alert": alert_id, "channel": CHANNEL, VISIBLE: True}
        return self.inbox.store.add_message(conversation_id, "system", notice, details=details).id

    async def _emit(self, conversation_id: str, frame: Frame) -> Frame:
        try:
            await self.relay.publish(conversation_id, frame)
        except DeliveryError:  # the caller gets the frame anyway; other windows catch up from the history
            logger.warning("could not relay a web chat frame of %s", conversation_id, exc_info=True)
        return frame


def _visible(message: StoredMessage) -> bool:
    if message.role in {"customer", "agent", "human"}:
        return True
    return message.role == "system" and message.details.get(VISIBLE) is True


def _item(message: StoredMessage, conversation_id: str) -> protocol.HistoryItem:
    details = message.details
    citations = tuple(
        Link(title=str(c.get("title", "")), url=c.get("url"))
        for c in details.get("citations", ())
        if isinstance(c, dict) and c.get("title")
    )
    client_id = None
    provider_id = details.get("provider_message_id")
    if message.role == "customer" and isinstance(provider_id, str):
        client_id = provider_id.removeprefix(f"{conversation_id}:")
    return protocol.HistoryItem(
        id=message.id,
        role=message.role,
        text=message.text,
        created_at=utc(message.created_at),
        citations=citations,
        client_id=client_id,
    )


def _latest_rating(messages: list[StoredMessage]) -> int | None:
    for message in reversed(messages):
        if message.role == "system" and message.details.get("event") == "rating":
            rating = message.details.get("rating")
            return int(rating) if isinstance(rating, int) else None
    return None
