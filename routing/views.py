"""Read-side queries of the routing tables: agents with their loads, queue snapshots, wait estimates."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping

import sqlalchemy as sa

from routing.assignment import Candidate
from routing.models import AgentLoad, EventKind, QueueSnapshot, QueueView, Ticket, TicketState, WaitingTicket
from routing.roster import AgentStatus, ChannelKind, RoutingConfig
from routing.store import (
    HOLDING,
    WAITING,
    agent_from_row,
    agents_table,
    events_table,
    maybe_utc,
    ticket_from_row,
    tickets_table,
    utc,
)

QUEUE_ORDER = (tickets_table.c.priority, tickets_table.c.created_at, tickets_table.c.id)
# Kinds of event after which an agent is tried last for the same ticket (they passed on it).
PASSED_OVER = (
    EventKind.DECLINED.value,
    EventKind.OFFER_EXPIRED.value,
    EventKind.HANDED_BACK.value,
    EventKind.TRANSFERRED.value,
)
RECENT_HANDLED = 50


def loads(conn: sa.Connection, agent_ids: Iterable[str] | None = None) -> dict[str, dict[str, dict[ChannelKind, int]]]:
    """Per agent, per ticket state (offered, assigned), the number of tickets of each channel kind."""
    t = tickets_table.c
    query = (
        sa.select(t.agent_id, t.state, t.channel_kind, sa.func.count())
        .where(t.state.in_(HOLDING), t.agent_id.is_not(None))
        .group_by(t.agent_id, t.state, t.channel_kind)
    )
    if agent_ids is not None:
        query = query.where(t.agent_id.in_(list(agent_ids)))
    result: dict[str, dict[str, dict[ChannelKind, int]]] = defaultdict(lambda: defaultdict(dict))
    for agent_id, state, kind, count in conn.execute(query):
        result[agent_id][state][ChannelKind(kind)] = int(count)
    return result


def candidate(row: sa.Row[object], held: Mapping[str, Mapping[ChannelKind, int]]) -> Candidate:
    """The candidate of an agent row with their offered and assigned counts."""
    total: dict[ChannelKind, int] = defaultdict(int)
    for per_kind in held.values():
        for kind, count in per_kind.items():
            total[kind] += count
    return Candidate(
        agent=agent_from_row(row),
        load=dict(total),
        idle_since=maybe_utc(row.idle_since),
        last_offer_at=maybe_utc(row.last_offer_at),
    )


def online_candidates(conn: sa.Connection) -> dict[str, Candidate]:
    """Every online agent as a candidate, with their current load."""
    rows = list(conn.execute(sa.select(agents_table).where(agents_table.c.status == AgentStatus.ONLINE.value)))
    held = loads(conn, [row.id for row in rows])
    return {row.id: candidate(row, held.get(row.id, {})) for row in rows}


def passed_over(conn: sa.Connection, ticket_ids: Iterable[int]) -> dict[int, frozenset[str]]:
    """Per ticket, the agents who declined it, let its offer expire, handed it back or transferred it away."""
    e = events_table.c
    ids = list(ticket_ids)
    found: dict[int, set[str]] = defaultdict(set)
    if not ids:
        return {}
    query = sa.select(e.ticket_id, e.from_agent_id).where(
        e.ticket_id.in_(ids), e.kind.in_(PASSED_OVER), e.from_agent_id.is_not(None)
    )
    for ticket_id, agent_id in conn.execute(query):
        found[int(ticket_id)].add(agent_id)
    return {ticket_id: frozenset(agents) for ticket_id, agents in found.items()}


def supervisors(conn: sa.Connection, team: str | None) -> tuple[str, ...]:
    """The supervisors of `team`; without any, every supervisor and admin."""
    a = agents_table.c
    if team is not None:
        ids = conn.execute(sa.select(a.id).where(a.team_id == team, a.role == "supervisor").order_by(a.id)).scalars()
        found = tuple(ids)
        if found:
            return found
    return tuple(conn.execute(sa.select(a.id).where(a.role.in_(("supervisor", "admin"))).order_by(a.id)).scalars())


def mean_handle_seconds(conn: sa.Connection, kind: ChannelKind, default: float) -> float:
    """The mean time from assignment to resolution of the latest resolved tickets of `kind` (else `default`)."""
    t = tickets_table.c
    rows = conn.execute(
        sa.select(t.assigned_at, t.resolved_at)
        .where(
            t.state == TicketState.RESOLVED.value,
            t.channel_kind == kind.value,
            t.assigned_at.is_not(None),
            t.resolved_at.is_not(None),
        )
        .order_by(t.resolved_at.desc())
        .limit(RECENT_HANDLED)
    ).all()
    spans = [(utc(done) - utc(start)).total_seconds() for start, done in rows]
    return sum(spans) / len(spans) if spans else default


def estimate(conn: sa.Connection, ticket: Ticket, config: RoutingConfig) -> tuple[int, float | None]:
    """The ticket's position among waiting tickets of its skill and an estimated wait in seconds.

    With F free slots among online agents who hold the skill and speak the language, and S slots in all, a
    ticket with A tickets ahead waits about 0 when A < F, else (A - F + 1) x mean handle time / S; None
    when no such agent is online.
    """
    if ticket.state is TicketState.OFFERED:
        return 0, 0.0
    if ticket.state is not TicketState.QUEUED:
        return 0, None
    t = tickets_table.c
    same_skill = t.skill.is_(None) if ticket.skill is None else t.skill == ticket.skill
    earlier = sa.or_(
        t.priority < ticket.priority,
        sa.and_(t.priority == ticket.priority, t.created_at < ticket.created_at),
        sa.and_(t.priority == ticket.priority, t.created_at == ticket.created_at, t.id < ticket.id),
    )
    ahead = int(
        conn.execute(
            sa.select(sa.func.count()).select_from(tickets_table).where(t.state == "queued", same_skill, earlier)
        ).scalar_one()
    )
    slots = free = 0
    for option in online_candidates(conn).values():
        agent = option.agent
        if not agent.speaks(ticket.language) or (ticket.skill is not None and agent.level(ticket.skill) < 1):
            continue
        slots += agent.capacity_for(ticket.channel_kind)
        free += option.free(ticket.channel_kind)
    if slots == 0:
        return ahead + 1, None
    if ahead < free:
        return ahead + 1, 0.0
    handle = mean_handle_seconds(conn, ticket.channel_kind, config.default_handle_seconds)
    return ahead + 1, round((ahead - free + 1) * handle / slots, 1)


def snapshot(conn: sa.Connection, config: RoutingConfig, now: dt.datetime) -> QueueSnapshot:
    """Every queue (waiting tickets by team, in dispatch order) and every agent's load."""
    t = tickets_table.c
    rows = conn.execute(sa.select(tickets_table).where(t.state.in_(WAITING)).order_by(*QUEUE_ORDER))
    by_team: dict[str | None, list[WaitingTicket]] = defaultdict(list)
    for row in rows:
        ticket = ticket_from_row(row, config.steps_for)
        waited = (now - ticket.created_at).total_seconds()
        remaining = (ticket.sla_due_at - now).total_seconds()
        by_team[ticket.target_team or ticket.team].append(WaitingTicket(ticket, waited, remaining))
    queues = tuple(
        QueueView(
            team=team,
            waiting=tuple(items),
            breached=sum(1 for item in items if item.ticket.sla_breached),
            longest_wait_seconds=max(item.waited_seconds for item in items),
        )
        for team, items in sorted(by_team.items(), key=lambda pair: (pair[0] is None, pair[0] or ""))
    )
    agent_rows = list(conn.execute(sa.select(agents_table).order_by(agents_table.c.id)))
    held = loads(conn)
    agents = tuple(
        AgentLoad(
            agent=agent_from_row(row),
            offered=dict(held.get(row.id, {}).get(TicketState.OFFERED.value, {})),
            assigned=dict(held.get(row.id, {}).get(TicketState.ASSIGNED.value, {})),
            idle_since=maybe_utc(row.idle_since),
        )
        for row in agent_rows
    )
    return QueueSnapshot(at=now, queues=queues, agents=agents)
