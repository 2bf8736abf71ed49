"""What the inbox, the handoff and the outbox do, as interaction events for the analytics log.

Every text is redacted before it is logged and the customer is a one-way key of their address, so the log
holds no personal data. Recording never raises into a conversation: the log queues in memory.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
from typing import Any

from agent.types import AgentReply
from analytics import EventKind, InteractionEvent, InteractionLog, customer_key
from channels.messages import InboundMessage
from conversations.store import Conversation, ConversationStore
from routing import EventKind as RoutingKind
from routing import Router, RoutingEvent
from routing.errors import RoutingError

logger = logging.getLogger(__name__)

CHOSE_ASSISTANT = "customer_chose_assistant"
MAX_REMEMBERED = 10_000
MAX_TEXT = 2000  # the log keeps the start of a long message (an e-mail with its quoted thread)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Interactions:
    """Records one interaction event per step of a conversation."""

    def __init__(
        self,
        log: InteractionLog,
        store: ConversationStore,
        *,
        redact: Any,
        router: Router | None = None,
        secret: str = "",
    ) -> None:
        self.log = log
        self.store = store
        self.router = router
        self._redact = redact
        self._secret = secret
        # The intent of each conversation's latest answer, for the escalation that may follow it (tickets
        # carry no intent); bounded, oldest forgotten first.
        self._intents: collections.OrderedDict[str, str] = collections.OrderedDict()

    def customer(self, address: str | None) -> str | None:
        """The one-way key of a customer's address (None without one)."""
        return customer_key(address, secret=self._secret) if address else None

    def _record(self, kind: EventKind, conversation_id: str, **fields: Any) -> None:
        self.log.record(
            InteractionEvent(kind=kind, conversation_id=conversation_id, at=fields.pop("at", _now()), **fields)
        )

    def _conversation(self, conversation_id: str) -> Conversation | None:
        try:
            return self.store.get(conversation_id)
        except Exception:  # the database is down: log the event without the customer rather than lose it
            logger.warning("no conversation details for the interaction log of %s", conversation_id)
            return None

    # The inbox.

    def message_in(
        self, message: InboundMessage, conversation_id: str, *, topic: str | None = None, redacted: str | None = None
    ) -> None:
        """A customer's message was stored (`redacted`: its text as stored, when the caller has it)."""
        self._record(
            EventKind.MESSAGE_IN,
            conversation_id,
            at=message.received_at,
            channel=message.channel,
            customer=self.customer(message.sender),
            text=redacted[:MAX_TEXT] if redacted is not None else self._redact(message.text[:MAX_TEXT]),
            topic=topic,
        )

    def answered(
        self,
        conversation: Conversation,
        question: str,
        reply: AgentReply,
        *,
        latency_ms: float,
        question_redacted: bool = False,
    ) -> None:
        """The assistant answered (and perhaps escalated): retrieval, answer and escalation events.
        `question_redacted` says the question's personal data is already replaced (as stored)."""
        customer = self.customer(conversation.customer_ref)
        question = question if question_redacted else self._redact(question)
        intent = reply.intent
        if intent is not None:
            self._intents[conversation.id] = intent.name
            self._intents.move_to_end(conversation.id)
            if len(self._intents) > MAX_REMEMBERED:
                self._intents.popitem(last=False)
        common: dict[str, Any] = {
            "channel": conversation.channel,
            "customer": customer,
            "intent": intent.name if intent is not None else None,
            "skill": (reply.escalation.skill if reply.escalation else None) or (intent.skill if intent else None),
        }
        documents = sorted({citation.document_id for citation in reply.citations})
        if reply.answered_from_knowledge or reply.citations:
            self._record(
                EventKind.RETRIEVAL,
                conversation.id,
                confidence=reply.confidence,
                latency_ms=reply.timings_ms.get("retrieval"),
                data={"documents": documents},
                **common,
            )
        self._record(
            EventKind.ANSWER,
            conversation.id,
            confidence=reply.confidence,
            latency_ms=latency_ms,
            text=self._redact(reply.text),
            reason=reply.escalation.reason.value if reply.escalation else None,
            data={
                "grounded": reply.grounded,
                "question": question,
                "citations": documents,
                "writer": reply.writer,
                "escalated": reply.escalation is not None,
                "answered_from_knowledge": reply.answered_from_knowledge,
                "sentiment": reply.sentiment.label.value,
            },
            **common,
        )

    def human_reply(self, conversation_id: str, text: str, *, actor: str | None) -> None:
        """A person wrote to the customer."""
        conversation = self._conversation(conversation_id)
        self._record(
            EventKind.HUMAN_REPLY,
            conversation_id,
            channel=conversation.channel if conversation else None,
            customer=self.customer(conversation.customer_ref) if conversation else None,
            actor=actor,
            text=self._redact(text),
        )

    def rated(self, conversation: Conversation, value: int, comment: str | None) -> None:
        """The customer rated the conversation (1 to 5)."""
        self._record(
            EventKind.RATING,
            conversation.id,
            channel=conversation.channel,
            customer=self.customer(conversation.customer_ref),
            value=float(value),
            data={"comment": self._redact(comment)} if comment else {},
        )

    def delivery(self, conversation_id: str, channel: str, status: str, error_code: str | None) -> None:
        """A provider reported what became of a message."""
        self._record(
            EventKind.DELIVERY,
            conversation_id,
            channel=channel,
            reason=status,
            data={"error_code": error_code} if error_code else {},
        )

    # Routing.

    def on_routing_event(self, event: RoutingEvent) -> None:
        """Routing listener: escalations, assignments and resolutions of tickets."""
        wanted = {RoutingKind.ESCALATED, RoutingKind.ACCEPTED, RoutingKind.RESOLVED}
        if event.kind not in wanted or event.conversation_id is None or event.ticket_id is None:
            return
        if self.router is None:
            return
        try:
            ticket = self.router.ticket(event.ticket_id)
        except (RoutingError, LookupError):
            logger.warning("ticket %s vanished before the interaction log read it", event.ticket_id)
            return
        conversation = self._conversation(event.conversation_id)
        common: dict[str, Any] = {
            "at": event.at,
            "channel": ticket.channel,
            "customer": self.customer(conversation.customer_ref) if conversation else None,
            "skill": ticket.skill,
        }
        if event.kind is RoutingKind.ESCALATED:
            self._record(
                EventKind.ESCALATION,
                event.conversation_id,
                intent=self._intents.get(event.conversation_id),
                reason=ticket.reason[:64],
                data={"priority": ticket.priority, "ticket": ticket.id, "summary": ticket.summary},
                **common,
            )
        elif event.kind is RoutingKind.ACCEPTED:
            waited = (event.at - ticket.created_at).total_seconds()
            self._record(
                EventKind.ASSIGNMENT,
                event.conversation_id,
                actor=event.agent_id,
                data={"ticket": ticket.id, "waited_s": round(waited, 3)},
                **common,
            )
        else:
            reason = ticket.resolution or event.note or "resolved"
            by = "customer" if reason == CHOSE_ASSISTANT else ("human" if event.agent_id else "assistant")
            self._record(
                EventKind.RESOLUTION,
                event.conversation_id,
                actor=event.agent_id,
                reason=reason[:64],
                data={"by": by, "ticket": ticket.id},
                **common,
            )
