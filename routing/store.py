"""The routing tables (its own metadata; `frontdesk` migrates them) and the rows' typed forms.

Two partial unique indexes hold the invariants even against a wrong caller: a conversation has at most one
ticket that is not resolved, and a ticket has at most one open offer. A ticket names at most one agent
(`agent_id`, for both offered and assigned), so it cannot be held by two.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa

from routing.models import EventKind, Offer, OfferState, RoutingEvent, Ticket, TicketState
from routing.roster import AgentStatus, ChannelKind, HumanAgent, Role, Scope, Team

metadata = sa.MetaData()

teams_table = sa.Table(
    "routing_teams",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("skills", sa.JSON, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

agents_table = sa.Table(
    "routing_agents",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("team_id", sa.String(64), sa.ForeignKey("routing_teams.id", ondelete="SET NULL"), nullable=True),
    sa.Column("skills", sa.JSON, nullable=False),
    sa.Column("languages", sa.JSON, nullable=False),
    sa.Column("capacity", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("idle_since", sa.DateTime(timezone=True), nullable=True),
    sa.Column("last_offer_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_routing_agents_team_id", "team_id"),
)

# Agent and team ids in tickets, offers and events carry no foreign key: history outlives a removed agent.
tickets_table = sa.Table(
    "routing_tickets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("conversation_id", sa.String(128), nullable=False),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("channel_kind", sa.String(16), nullable=False),
    sa.Column("skill", sa.String(64), nullable=True),
    sa.Column("min_level", sa.Integer, nullable=False),
    sa.Column("language", sa.String(32), nullable=True),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("reason", sa.String(64), nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("team_id", sa.String(64), nullable=True),
    sa.Column("target_agent_id", sa.String(64), nullable=True),
    sa.Column("target_team_id", sa.String(64), nullable=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("agent_id", sa.String(64), nullable=True),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("sla_due_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sla_breached", sa.Boolean, nullable=False),
    sa.Column("next_widen_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("resolution", sa.String(256), nullable=True),
    sa.Index("ix_routing_tickets_queue", "state", "priority", "created_at"),
    sa.Index("ix_routing_tickets_agent_id", "agent_id"),
    sa.Index("ix_routing_tickets_conversation_id", "conversation_id"),
    sa.Index(
        "ux_routing_tickets_open_conversation",
        "conversation_id",
        unique=True,
        sqlite_where=sa.text("state != 'resolved'"),
        postgresql_where=sa.text("state != 'resolved'"),
    ),
)

offers_table = sa.Table(
    "routing_offers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ticket_id", sa.Integer, sa.ForeignKey("routing_tickets.id", ondelete="CASCADE"), nullable=False),
    sa.Column("agent_id", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("ix_routing_offers_ticket_id", "ticket_id"),
    sa.Index("ix_routing_offers_agent_id", "agent_id"),
    sa.Index("ix_routing_offers_due", "state", "expires_at"),
    sa.Index(
        "ux_routing_offers_open_ticket",
        "ticket_id",
        unique=True,
        sqlite_where=sa.text("state = 'open'"),
        postgresql_where=sa.text("state = 'open'"),
    ),
)

events_table = sa.Table(
    "routing_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ticket_id", sa.Integer, sa.ForeignKey("routing_tickets.id", ondelete="CASCADE"), nullable=True),
    sa.Column("conversation_id", sa.String(128), nullable=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("agent_id", sa.String(64), nullable=True),
    sa.Column("from_agent_id", sa.String(64), nullable=True),
    sa.Column("team_id", sa.String(64), nullable=True),
    sa.Column("offer_id", sa.Integer, nullable=True),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("details", sa.JSON, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_routing_events_ticket_id", "ticket_id"),
    sa.Index("ix_routing_events_kind_at", "kind", "at"),
)

WAITING = (TicketState.QUEUED.value, TicketState.OFFERED.value)
HOLDING = (TicketState.OFFERED.value, TicketState.ASSIGNED.value)


def utc(value: dt.datetime) -> dt.datetime:
    """A timestamp read back from the database as an aware UTC datetime (SQLite drops the zone)."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def maybe_utc(value: dt.datetime | None) -> dt.datetime | None:
    """`utc` of a nullable timestamp."""
    return None if value is None else utc(value)


def ticket_from_row(row: sa.Row[Any], steps: Callable[[int], tuple[Scope, ...]]) -> Ticket:
    """The ticket of a `routing_tickets` row; `steps(priority)` names the scope of its widening step."""
    step = int(row.step)
    scopes = steps(int(row.priority))
    return Ticket(
        id=int(row.id),
        conversation_id=row.conversation_id,
        channel=row.channel,
        channel_kind=ChannelKind(row.channel_kind),
        skill=row.skill,
        min_level=int(row.min_level),
        language=row.language,
        priority=int(row.priority),
        reason=row.reason,
        summary=row.summary,
        team=row.team_id,
        target_agent=row.target_agent_id,
        target_team=row.target_team_id,
        state=TicketState(row.state),
        agent_id=row.agent_id,
        step=step,
        scope=scopes[min(step, len(scopes) - 1)],
        sla_due_at=utc(row.sla_due_at),
        sla_breached=bool(row.sla_breached),
        created_at=utc(row.created_at),
        queued_at=utc(row.queued_at),
        assigned_at=maybe_utc(row.assigned_at),
        resolved_at=maybe_utc(row.resolved_at),
        resolution=row.resolution,
    )


def offer_from_row(row: sa.Row[Any]) -> Offer:
    """The offer of a `routing_offers` row."""
    return Offer(
        id=int(row.id),
        ticket_id=int(row.ticket_id),
        agent_id=row.agent_id,
        state=OfferState(row.state),
        created_at=utc(row.created_at),
        expires_at=utc(row.expires_at),
        closed_at=maybe_utc(row.closed_at),
    )


def agent_from_row(row: sa.Row[Any]) -> HumanAgent:
    """The agent of a `routing_agents` row."""
    return HumanAgent(
        id=row.id,
        name=row.name,
        email=row.email,
        role=Role(row.role),
        team=row.team_id,
        skills=dict(row.skills),
        languages=tuple(row.languages),
        capacity={ChannelKind(kind): int(n) for kind, n in dict(row.capacity).items()},
        status=AgentStatus(row.status),
    )


def agent_values(agent: HumanAgent) -> dict[str, Any]:
    """The profile columns of an agent (not its status or timers)."""
    return {
        "name": agent.name,
        "email": agent.email,
        "role": agent.role.value,
        "team_id": agent.team,
        "skills": dict(agent.skills),
        "languages": list(agent.languages),
        "capacity": {kind.value: n for kind, n in agent.capacity.items()},
    }


def team_from_row(row: sa.Row[Any]) -> Team:
    """The team of a `routing_teams` row."""
    return Team(id=row.id, name=row.name, skills=tuple(row.skills))


def event_from_row(row: sa.Row[Any]) -> RoutingEvent:
    """The event of a `routing_events` row."""
    details: Mapping[str, Any] = row.details or {}
    scope = details.get("scope")
    status = details.get("status")
    return RoutingEvent(
        kind=EventKind(row.kind),
        at=utc(row.at),
        ticket_id=row.ticket_id,
        conversation_id=row.conversation_id,
        agent_id=row.agent_id,
        from_agent=row.from_agent_id,
        team=row.team_id,
        offer_id=row.offer_id,
        scope=Scope(scope) if scope else None,
        status=AgentStatus(status) if status else None,
        note=row.note,
        notify=tuple(details.get("notify", ())),
        id=int(row.id),
    )


def event_values(event: RoutingEvent) -> dict[str, Any]:
    """The columns of an event row."""
    details: dict[str, Any] = {}
    if event.scope is not None:
        details["scope"] = event.scope.value
    if event.status is not None:
        details["status"] = event.status.value
    if event.notify:
        details["notify"] = list(event.notify)
    return {
        "ticket_id": event.ticket_id,
        "conversation_id": event.conversation_id,
        "kind": event.kind.value,
        "agent_id": event.agent_id,
        "from_agent_id": event.from_agent,
        "team_id": event.team,
        "offer_id": event.offer_id,
        "note": event.note,
        "details": details,
        "at": event.at,
    }
