"""The interaction event: one step of one conversation, as the interaction log keeps it.

Events carry no personal data: texts are redacted before they get here, and the customer is a keyed digest
of their address (`customer_key`), enough to count distinct customers and to erase one, not to contact them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    """The steps the log records."""

    MESSAGE_IN = "message_in"  # a customer's message arrived (text redacted, topic when known)
    RETRIEVAL = "retrieval"  # the knowledge base was searched (confidence = best passage score)
    ANSWER = "answer"  # the assistant answered (latency_ms, confidence, grounded in data)
    ESCALATION = "escalation"  # the conversation was handed to people (reason, skill, priority)
    ASSIGNMENT = "assignment"  # a person accepted it (actor)
    HUMAN_REPLY = "human_reply"  # a person wrote to the customer (actor)
    RESOLUTION = "resolution"  # the conversation was resolved (reason; actor when a person resolved it)
    RATING = "rating"  # the customer rated the conversation (value 1-5)
    DELIVERY = "delivery"  # a provider reported a delivery status (reason = status, data = error code)


@dataclass(frozen=True, slots=True)
class InteractionEvent:
    """One step: what happened, in which conversation, when, and the figures the KPIs read."""

    kind: EventKind
    conversation_id: str
    at: dt.datetime
    channel: str | None = None
    customer: str | None = None  # customer_key(...) of the customer's address, never the address
    intent: str | None = None
    skill: str | None = None
    topic: str | None = None  # intent, or a cluster of messages no intent fits ("cluster:<n>")
    confidence: float | None = None
    latency_ms: float | None = None
    reason: str | None = None
    actor: str | None = None  # the human agent, for assignment, human reply and resolution
    value: float | None = None  # the rating
    text: str | None = None  # redacted
    data: dict[str, Any] = field(default_factory=dict)


def utc(value: dt.datetime) -> dt.datetime:
    """`value` as an aware UTC datetime; a naive one is taken to be UTC already (SQLite drops the zone)."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def customer_key(address: str, *, secret: str = "") -> str:
    """A stable, one-way key for a customer's address (phone number, e-mail, visitor id): the same address
    gives the same key, and the key does not give the address back."""
    normalized = address.strip().lower()
    return hashlib.sha256(f"{secret}\x00{normalized}".encode()).hexdigest()[:32]
