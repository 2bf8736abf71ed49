"""The values routing hands out: escalation requests, tickets, offers, events and queue snapshots."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from routing.roster import AgentStatus, ChannelKind, HumanAgent, Identifier, Language, Level, Priority, Scope


class TicketState(StrEnum):
    """Where a conversation handed to humans stands: waiting, offered to one agent, held by one, done."""

    QUEUED = "queued"
    OFFERED = "offered"
    ASSIGNED = "assigned"
    RESOLVED = "resolved"


class OfferState(StrEnum):
    """An offer is open until accepted, declined, expired, or revoked (agent left, ticket transferred)."""

    OPEN = "open"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    REVOKED = "revoked"


class EventKind(StrEnum):
    """Every step recorded in a ticket's history (and `status_changed` for agents)."""

    ESCALATED = "escalated"
    OFFERED = "offered"
    OFFER_EXPIRED = "offer_expired"
    DECLINED = "declined"
    ACCEPTED = "accepted"
    TRANSFERRED = "transferred"
    WIDENED = "widened"
    SLA_BREACHED = "sla_breached"
    HANDED_BACK = "handed_back"
    RESOLVED = "resolved"
    STATUS_CHANGED = "status_changed"


class EscalationRequest(BaseModel):
    """What the inbox knows when it hands a conversation to humans.

    Without `skill`, the skill map gives the skill of `intent`; without `priority`, the skill's priority (or the
    configured default); without `team`, the first team that owns the skill.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    conversation_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    channel: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    skill: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    intent: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None
    min_level: Level | None = None
    language: Language | None = None
    priority: Priority | None = None
    reason: Annotated[str, StringConstraints(max_length=64)] = ""
    summary: Annotated[str, StringConstraints(max_length=4000)] = ""
    team: Identifier | None = None


@dataclass(frozen=True, slots=True)
class Ticket:
    """A conversation waiting for, offered to, or held by a human, with what it needs."""

    id: int
    conversation_id: str
    channel: str
    channel_kind: ChannelKind
    skill: str | None
    min_level: int
    language: str | None
    priority: int
    reason: str
    summary: str
    team: str | None
    target_agent: str | None
    target_team: str | None
    state: TicketState
    agent_id: str | None
    step: int
    scope: Scope
    sla_due_at: dt.datetime
    sla_breached: bool
    created_at: dt.datetime
    queued_at: dt.datetime
    assigned_at: dt.datetime | None
    resolved_at: dt.datetime | None
    resolution: str | None

    @property
    def waiting(self) -> bool:
        """Whether no agent has taken the conversation yet (queued or offered)."""
        return self.state in (TicketState.QUEUED, TicketState.OFFERED)


@dataclass(frozen=True, slots=True)
class Offer:
    """A ticket offered to one agent until `expires_at`."""

    id: int
    ticket_id: int
    agent_id: str
    state: OfferState
    created_at: dt.datetime
    expires_at: dt.datetime
    closed_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class RoutingEvent:
    """One step of a ticket's history, or an agent's status change; also what listeners receive.

    `from_agent` is the agent a ticket left (transfer, hand-back, expired offer); `notify` lists the supervisors
    to tell (SLA breaches).
    """

    kind: EventKind
    at: dt.datetime
    ticket_id: int | None = None
    conversation_id: str | None = None
    agent_id: str | None = None
    from_agent: str | None = None
    team: str | None = None
    offer_id: int | None = None
    scope: Scope | None = None
    status: AgentStatus | None = None
    note: str = ""
    notify: tuple[str, ...] = ()
    id: int | None = None


@dataclass(frozen=True, slots=True)
class Escalated:
    """The ticket of an escalation, whether this call created it, and its place in the queue.

    `position` counts from 1 among the waiting tickets of the same skill (0 once an agent holds it);
    `estimated_wait_seconds` is None when no agent who could take it is online.
    """

    ticket: Ticket
    created: bool
    position: int
    estimated_wait_seconds: float | None


@dataclass(frozen=True, slots=True)
class AgentLoad:
    """An agent with the conversations offered to and held by them, per channel kind."""

    agent: HumanAgent
    offered: Mapping[ChannelKind, int]
    assigned: Mapping[ChannelKind, int]
    idle_since: dt.datetime | None

    def load(self, kind: ChannelKind) -> int:
        """Offered plus assigned conversations of `kind` (what capacity is checked against)."""
        return self.offered.get(kind, 0) + self.assigned.get(kind, 0)


@dataclass(frozen=True, slots=True)
class WaitingTicket:
    """A waiting ticket with how long it has waited and how much of its SLA is left (negative: overdue)."""

    ticket: Ticket
    waited_seconds: float
    sla_remaining_seconds: float


@dataclass(frozen=True, slots=True)
class QueueView:
    """The waiting tickets of one team's queue (`team` None: tickets of no team), in dispatch order."""

    team: str | None
    waiting: tuple[WaitingTicket, ...]
    breached: int
    longest_wait_seconds: float


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """Every queue and every agent's load at one moment, for supervisors."""

    at: dt.datetime
    queues: tuple[QueueView, ...]
    agents: tuple[AgentLoad, ...]


@dataclass(frozen=True, slots=True)
class TickResult:
    """What one pass of the timers did: offers that expired, SLAs that ran out, searches that widened."""

    expired: tuple[Offer, ...]
    breached: tuple[Ticket, ...]
    widened: tuple[Ticket, ...]
