"""The router: hands escalated conversations to human agents, keeps the queue, runs the offer and SLA timers.

Life of a ticket: `escalate` queues it; `dispatch` offers it to the best eligible agent (highest priority
first; within a priority exact matches before widened tickets, oldest first); the agent `accept`s or
`decline`s, or the offer expires at `tick` and the ticket goes to the next agent. While it waits, `tick`
widens the search step by step at the configured moments inside the SLA (by default lower level at a quarter
of the SLA, the team at half, the fallback team at three quarters), and `dispatch` skips a step at once when
nobody online there could take it; when the SLA runs out, `tick` records the breach and tells the
supervisors. `transfer`, `hand_back` and `resolve` end an agent's hold. Every step is recorded in the
ticket's history and passed to the listener once committed.

Concurrency. On PostgreSQL several processes may run routers on one database: each offer is made in its own
short transaction that locks the ticket (`FOR UPDATE SKIP LOCKED`: a ticket another worker is offering is
skipped, not waited for) and then the chosen agent's row (`FOR UPDATE`), re-counts that agent's offered and
assigned tickets inside the lock and re-checks eligibility before offering. Every transaction takes its
ticket locks (in id order) before at most one agent lock, so lock waits cannot form a cycle; a deadlock or
serialization failure reported by the database is retried. A status change commits before its hand-back
runs, so an offer made just before the change is still handed back. So no ticket is offered or assigned to two
agents, and no agent holds more than their capacity. On SQLite (the single-process default) writers take
turns under SQLite's own write lock (`BEGIN IMMEDIATE`, see `routing.transactions`).

Status changes. `away` hands back the agent's open offers and keeps their conversations. `offline` also
releases queued work aimed at them by a transfer; their assigned conversations stay theirs (a dropped
connection should not scatter customers) unless `hand_back_assigned` is set, as at the end of a shift, or
they hand one back with `hand_back`. A handed-back assigned conversation re-enters the queue with a fresh
SLA and keeps its place by original escalation time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import partial
from typing import Any

import sqlalchemy as sa

from routing.assignment import (
    AssignmentPolicy,
    Candidate,
    Requirement,
    SkillsPolicy,
    exact_demand,
    scopes_at,
    withdraw_demand,
)
from routing.errors import ConflictError, NotFoundError, PermissionDeniedError, RoutingError
from routing.models import (
    Escalated,
    EscalationRequest,
    EventKind,
    Offer,
    OfferState,
    QueueSnapshot,
    RoutingEvent,
    Ticket,
    TicketState,
    TickResult,
)
from routing.roster import AgentStatus, HumanAgent, Role, Roster, RoutingConfig, Scope, Team
from routing.skillmap import SkillMap
from routing.store import (
    HOLDING,
    WAITING,
    agent_from_row,
    agent_values,
    agents_table,
    event_from_row,
    events_table,
    offer_from_row,
    offers_table,
    team_from_row,
    teams_table,
    ticket_from_row,
    tickets_table,
    utc,
)
from routing.transactions import Transaction, Transactor
from routing.views import QUEUE_ORDER, candidate, estimate, loads, online_candidates, passed_over, snapshot, supervisors

Clock = Callable[[], dt.datetime]
Listener = Callable[[RoutingEvent], None]


def system_clock() -> dt.datetime:
    """The current time, aware, in UTC."""
    return dt.datetime.now(dt.UTC)


class Router:
    """Routes escalated conversations to human agents (see the module docstring for the rules).

    `now` is the clock (injected so tests and the simulation control time); `listener` receives every event
    after its transaction commits (it should not raise: the change is already stored). With `auto_dispatch`,
    every call that may let an agent take a waiting ticket (escalate, decline, resolve, transfer, hand back,
    status change, tick) dispatches before it returns.
    """

    def __init__(
        self,
        engine: sa.Engine,
        config: RoutingConfig | None = None,
        *,
        skill_map: SkillMap | None = None,
        policy: AssignmentPolicy | None = None,
        now: Clock = system_clock,
        listener: Listener | None = None,
        auto_dispatch: bool = True,
        retries: int = 8,
    ) -> None:
        self.engine = engine
        self.config = config or RoutingConfig()
        self.skill_map = skill_map
        self.policy: AssignmentPolicy = policy or SkillsPolicy()
        self.now = now
        self.listener = listener
        self.auto_dispatch = auto_dispatch
        self._transactor = Transactor(engine, self._emit, retries=retries)

    # -- helpers ---------------------------------------------------------------------------------------------

    def _emit(self, events: list[RoutingEvent]) -> None:
        if self.listener is not None:
            for event in events:
                self.listener(event)

    def _locked_ticket(self, conn: sa.Connection, ticket_id: int, *, skip_locked: bool = False) -> sa.Row[Any] | None:
        query = sa.select(tickets_table).where(tickets_table.c.id == ticket_id)
        return conn.execute(query.with_for_update(skip_locked=skip_locked)).first()

    def _ticket_or_fail(self, conn: sa.Connection, ticket_id: int) -> Ticket:
        row = self._locked_ticket(conn, ticket_id)
        if row is None:
            msg = f"no ticket with id {ticket_id}"
            raise NotFoundError(msg)
        return ticket_from_row(row, self.config.steps_for)

    def _agent_row(self, conn: sa.Connection, agent_id: str, *, lock: bool = False) -> sa.Row[Any]:
        query = sa.select(agents_table).where(agents_table.c.id == agent_id)
        row = conn.execute(query.with_for_update() if lock else query).first()
        if row is None:
            msg = f"no agent with id {agent_id!r}"
            raise NotFoundError(msg)
        return row

    def _widen_at(self, priority: int, sla_due_at: dt.datetime, step: int) -> dt.datetime | None:
        """When a ticket of `priority` at `step` (SLA due at `sla_due_at`) widens next, or None at the last step."""
        offsets = self.config.widen_offsets(priority)
        if step >= len(offsets):
            return None
        started = sla_due_at - dt.timedelta(seconds=self.config.sla_for(priority))
        return started + dt.timedelta(seconds=offsets[step])

    def _fresh_sla(self, priority: int, now: dt.datetime) -> dict[str, Any]:
        due = now + dt.timedelta(seconds=self.config.sla_for(priority))
        return {"step": 0, "sla_due_at": due, "sla_breached": False, "next_widen_at": self._widen_at(priority, due, 0)}

    def _release(self, tx: Transaction, agent_id: str | None, now: dt.datetime) -> None:
        """After a conversation left `agent_id`: when they hold nothing more, they are idle from now."""
        if agent_id is None:
            return
        t = tickets_table.c
        held = tx.conn.execute(
            sa.select(sa.func.count()).where(t.agent_id == agent_id, t.state == TicketState.ASSIGNED.value)
        ).scalar_one()
        if held == 0:
            tx.conn.execute(sa.update(agents_table).where(agents_table.c.id == agent_id).values(idle_since=now))

    def _close_open_offer(self, tx: Transaction, ticket_id: int, state: OfferState, now: dt.datetime) -> Offer | None:
        o = offers_table.c
        row = tx.conn.execute(
            sa.select(offers_table).where(o.ticket_id == ticket_id, o.state == OfferState.OPEN.value)
        ).first()
        if row is None:
            return None
        tx.conn.execute(sa.update(offers_table).where(o.id == row.id).values(state=state.value, closed_at=now))
        return offer_from_row(row)

    def _event(self, kind: EventKind, ticket: Ticket, now: dt.datetime, **values: Any) -> RoutingEvent:
        return RoutingEvent(kind=kind, at=now, ticket_id=ticket.id, conversation_id=ticket.conversation_id, **values)

    def _after_change(self) -> None:
        if self.auto_dispatch:
            self.dispatch()

    # -- escalation and dispatch -----------------------------------------------------------------------------

    def escalate(self, request: EscalationRequest) -> Escalated:
        """Queue a conversation for a human; idempotent: while the conversation has a ticket that is not
        resolved, that ticket is returned (`created` False). Says the ticket's place and estimated wait."""
        now = self.now()
        kind = self.config.kind_of(request.channel)
        skill = request.skill
        if skill is None and request.intent is not None and self.skill_map is not None:
            info = self.skill_map.skill_for(request.intent)
            skill = info.name if info is not None else None
        priority = request.priority
        if priority is None and skill is not None and self.skill_map is not None:
            priority = self.skill_map.priority_of(skill)
        priority = priority or self.config.default_priority
        sla = self._fresh_sla(priority, now)

        def work(tx: Transaction) -> tuple[Ticket, bool]:
            existing = self._open_ticket(tx.conn, request.conversation_id)
            if existing is not None:
                return existing, False
            team = request.team or self._team_of(tx.conn, skill)
            values = {
                "conversation_id": request.conversation_id,
                "channel": request.channel,
                "channel_kind": kind.value,
                "skill": skill,
                "min_level": request.min_level or self.config.default_min_level,
                "language": request.language.lower() if request.language else None,
                "priority": priority,
                "reason": request.reason,
                "summary": request.summary,
                "team_id": team,
                "state": TicketState.QUEUED.value,
                "created_at": now,
                "queued_at": now,
                **sla,
            }
            new_id = tx.conn.execute(sa.insert(tickets_table).values(**values)).inserted_primary_key
            ticket = self._ticket_or_fail(tx.conn, int(new_id[0]) if new_id else 0)
            tx.record(self._event(EventKind.ESCALATED, ticket, now, team=team, note=request.reason))
            return ticket, True

        try:
            ticket, created = self._transactor.run(work)
        except sa.exc.IntegrityError:
            # Another worker escalated the same conversation at the same moment; the unique index kept one.
            with self.engine.connect() as conn:
                found = self._open_ticket(conn, request.conversation_id)
            if found is None:
                raise
            ticket, created = found, False
        if created:
            self._after_change()
        with self.engine.connect() as conn:
            current = ticket_from_row(
                conn.execute(sa.select(tickets_table).where(tickets_table.c.id == ticket.id)).one(),
                self.config.steps_for,
            )
            position, wait = estimate(conn, current, self.config)
        return Escalated(ticket=current, created=created, position=position, estimated_wait_seconds=wait)

    def _open_ticket(self, conn: sa.Connection, conversation_id: str) -> Ticket | None:
        t = tickets_table.c
        row = conn.execute(
            sa.select(tickets_table).where(t.conversation_id == conversation_id, t.state != TicketState.RESOLVED.value)
        ).first()
        return ticket_from_row(row, self.config.steps_for) if row is not None else None

    def _team_of(self, conn: sa.Connection, skill: str | None) -> str | None:
        if skill is None:
            return None
        for team in self._teams(conn):
            if skill in team.skills:
                return team.id
        return None

    def requirement(self, ticket: Ticket, passed: frozenset[str] = frozenset()) -> Requirement:
        """What `ticket` needs from an agent at its current widening step."""
        return Requirement(
            channel_kind=ticket.channel_kind,
            skill=ticket.skill,
            min_level=ticket.min_level,
            language=ticket.language,
            scopes=scopes_at(self.config.steps_for(ticket.priority), ticket.step),
            team=ticket.team,
            fallback_team=self.config.fallback_team,
            target_agent=ticket.target_agent,
            target_team=ticket.target_team,
            passed_over=passed,
        )

    def dispatch(self, limit: int | None = None) -> list[Offer]:
        """Offer queued tickets (the first `limit` of them in queue order, or all) to the best eligible agents;
        tickets nobody can take stay queued. Returns the offers made.

        Order: highest priority first; within a priority, first every ticket with only the agents who match it
        exactly, then the widened tickets with their whole pool, each pass oldest first. So a ticket that may
        already go to anyone does not take the one agent a newer ticket of its priority needs; it takes someone
        else, or the next agent free. A widened ticket also prefers agents whom fewer queued tickets need
        exactly (`Candidate.demand`). A ticket whose current step has nobody online who could take it (with
        `skip_unstaffed_steps`) widens at once to the first step that has someone.
        """
        now = self.now()
        t = tickets_table.c
        with self.engine.connect() as conn:
            candidates = online_candidates(conn)
            if not candidates:  # nobody online: no ticket can be offered, so none is read (the queue may be long)
                return []
            rows = list(
                conn.execute(
                    sa.select(tickets_table)
                    .where(t.state == TicketState.QUEUED.value)
                    .order_by(*QUEUE_ORDER)
                    .limit(limit)
                )
            )
            if not rows:
                return []
            passed = passed_over(conn, [row.id for row in rows])
        tickets = [ticket_from_row(row, self.config.steps_for) for row in rows]
        wanted = {ticket.id: self.requirement(ticket) for ticket in tickets}
        demand = exact_demand(wanted.values(), [c.agent for c in candidates.values()])
        # (ticket, exact only?): a stable sort keeps queue order within each priority and pass
        plan = sorted(
            ((ticket, exact_only) for ticket in tickets for exact_only in (True, False)),
            key=lambda pair: (pair[0].priority, not pair[1]),
        )
        made: list[Offer] = []
        served: set[int] = set()
        options: list[Candidate] | None = None  # the candidates with their demand, rebuilt after a change
        for ticket, exact_only in plan:
            if ticket.id in served:
                continue
            requirement = self.requirement(ticket, passed.get(ticket.id, frozenset()))
            if exact_only:
                requirement = replace(requirement, scopes=frozenset({Scope.EXACT}))
            elif self.config.skip_unstaffed_steps and not self.policy.rank(requirement, list(candidates.values())):
                staffed = self._staffed_step(ticket, requirement.passed_over, candidates.values())
                if staffed > ticket.step:
                    skipped = self._transactor.run(
                        partial(self._skip_to, ticket_id=ticket.id, from_step=ticket.step, to_step=staffed, now=now)
                    )
                    if skipped is None:  # taken, changed or being handled by another worker
                        continue
                    ticket = skipped
                    requirement = self.requirement(ticket, requirement.passed_over)
            for _ in range(len(candidates) + 1):
                if options is None:
                    options = [replace(c, demand=demand.get(c.agent.id, {})) for c in candidates.values()]
                ranked = self.policy.rank(requirement, options)
                if not ranked:
                    break
                outcome = self._transactor.run(
                    partial(self._offer, ticket_id=ticket.id, agent_id=ranked[0].agent.id, now=now)
                )
                options = None
                if isinstance(outcome, Offer):
                    made.append(outcome)
                    served.add(ticket.id)
                    chosen = candidates[outcome.agent_id]
                    load = dict(chosen.load)
                    load[ticket.channel_kind] = load.get(ticket.channel_kind, 0) + 1
                    candidates[outcome.agent_id] = Candidate(chosen.agent, load, chosen.idle_since, now)
                    withdraw_demand(demand, wanted[ticket.id], [c.agent for c in candidates.values()])
                    break
                if outcome is None:  # the ticket was taken, changed or is being handled by another worker
                    served.add(ticket.id)
                    break
                if outcome.agent.status is AgentStatus.ONLINE:
                    candidates[outcome.agent.id] = outcome
                else:
                    candidates.pop(outcome.agent.id, None)
        return made

    def _staffed_step(self, ticket: Ticket, passed: frozenset[str], candidates: Iterable[Candidate]) -> int:
        """The first widening step from the ticket's own whose pool has someone online who could take the ticket
        once they had room (language, capacity for the channel kind); the ticket's own step when no step has
        anyone or the ticket is aimed at an agent or a team by a transfer."""
        if ticket.target_agent is not None or ticket.target_team is not None:
            return ticket.step
        unloaded = [Candidate(c.agent, {}, c.idle_since, c.last_offer_at) for c in candidates]
        for step in range(ticket.step, len(self.config.steps_for(ticket.priority))):
            if self.policy.rank(self.requirement(replace(ticket, step=step), passed), unloaded):
                return step
        return ticket.step

    def _skip_to(
        self, tx: Transaction, ticket_id: int, from_step: int, to_step: int, now: dt.datetime
    ) -> Ticket | None:
        """Widen a queued ticket from `from_step` straight to `to_step` (the steps between have nobody online);
        None when the ticket is no longer queued at `from_step`."""
        row = self._locked_ticket(tx.conn, ticket_id, skip_locked=True)
        if row is None or row.state != TicketState.QUEUED.value or int(row.step) != from_step:
            return None
        ticket = ticket_from_row(row, self.config.steps_for)
        scopes = self.config.steps_for(ticket.priority)
        for step in range(from_step + 1, to_step + 1):
            note = f"skipped {scopes[step - 1].value}: nobody online there could take it"
            tx.record(self._event(EventKind.WIDENED, ticket, now, scope=scopes[step], team=ticket.team, note=note))
        tx.conn.execute(
            sa.update(tickets_table)
            .where(tickets_table.c.id == ticket_id)
            .values(step=to_step, next_widen_at=self._widen_at(ticket.priority, ticket.sla_due_at, to_step))
        )
        return self._ticket_or_fail(tx.conn, ticket_id)

    def _offer(self, tx: Transaction, ticket_id: int, agent_id: str, now: dt.datetime) -> Offer | Candidate | None:
        """Offer the ticket to the agent if both are still as the caller saw them. None: the ticket is gone;
        a Candidate: the agent as they are now, no longer eligible."""
        conn = tx.conn
        row = self._locked_ticket(conn, ticket_id, skip_locked=True)
        if row is None or row.state != TicketState.QUEUED.value:
            return None
        ticket = ticket_from_row(row, self.config.steps_for)
        agent_row = conn.execute(sa.select(agents_table).where(agents_table.c.id == agent_id).with_for_update()).first()
        if agent_row is None:
            return None
        fresh = candidate(agent_row, loads(conn, [agent_id]).get(agent_id, {}))
        passed = passed_over(conn, [ticket_id]).get(ticket_id, frozenset())
        if not self.policy.rank(self.requirement(ticket, passed), [fresh]):
            return fresh
        expires = now + dt.timedelta(seconds=self.config.offer_timeout_seconds)
        new_id = conn.execute(
            sa.insert(offers_table).values(
                ticket_id=ticket_id, agent_id=agent_id, state=OfferState.OPEN.value, created_at=now, expires_at=expires
            )
        ).inserted_primary_key
        offer_id = int(new_id[0]) if new_id else 0
        conn.execute(
            sa.update(tickets_table)
            .where(tickets_table.c.id == ticket_id)
            .values(state=TicketState.OFFERED.value, agent_id=agent_id)
        )
        conn.execute(sa.update(agents_table).where(agents_table.c.id == agent_id).values(last_offer_at=now))
        tx.record(self._event(EventKind.OFFERED, ticket, now, agent_id=agent_id, offer_id=offer_id, team=ticket.team))
        return Offer(offer_id, ticket_id, agent_id, OfferState.OPEN, now, expires, None)

    # -- the agent's answers -------------------------------------------------------------------------------

    def _open_offer_for(self, tx: Transaction, offer_id: int, agent_id: str) -> tuple[sa.Row[Any], Ticket]:
        o = offers_table.c
        first = tx.conn.execute(sa.select(o.ticket_id).where(o.id == offer_id)).first()
        if first is None:
            msg = f"no offer with id {offer_id}"
            raise NotFoundError(msg)
        ticket = self._ticket_or_fail(tx.conn, int(first.ticket_id))
        offer = tx.conn.execute(sa.select(offers_table).where(o.id == offer_id)).one()
        if offer.agent_id != agent_id:
            msg = f"offer {offer_id} was made to agent {offer.agent_id!r}, not {agent_id!r}"
            raise PermissionDeniedError(msg)
        if offer.state != OfferState.OPEN.value:
            msg = f"offer {offer_id} is {offer.state}, not open"
            raise ConflictError(msg)
        if utc(offer.expires_at) <= self.now():
            msg = f"offer {offer_id} expired at {utc(offer.expires_at).isoformat()}"
            raise ConflictError(msg)
        return offer, ticket

    def accept(self, offer_id: int, agent_id: str) -> Ticket:
        """The agent takes the offered conversation; it is theirs until resolved, transferred or handed back."""
        now = self.now()

        def work(tx: Transaction) -> Ticket:
            offer, ticket = self._open_offer_for(tx, offer_id, agent_id)
            tx.conn.execute(
                sa.update(offers_table)
                .where(offers_table.c.id == offer_id)
                .values(state=OfferState.ACCEPTED.value, closed_at=now)
            )
            tx.conn.execute(
                sa.update(tickets_table)
                .where(tickets_table.c.id == ticket.id)
                .values(state=TicketState.ASSIGNED.value, assigned_at=now)
            )
            waited = round((now - ticket.created_at).total_seconds(), 3)
            tx.record(
                self._event(
                    EventKind.ACCEPTED, ticket, now, agent_id=agent_id, offer_id=offer_id, note=f"waited {waited}s"
                )
            )
            return self._ticket_or_fail(tx.conn, ticket.id)

        return self._transactor.run(work)

    def decline(self, offer_id: int, agent_id: str, note: str = "") -> Ticket:
        """The agent turns the offer down; the ticket goes back to the queue for the next agent."""
        now = self.now()

        def work(tx: Transaction) -> Ticket:
            _, ticket = self._open_offer_for(tx, offer_id, agent_id)
            tx.conn.execute(
                sa.update(offers_table)
                .where(offers_table.c.id == offer_id)
                .values(state=OfferState.DECLINED.value, closed_at=now)
            )
            self._requeue(tx, ticket, now, keep_sla=True)
            tx.record(self._event(EventKind.DECLINED, ticket, now, from_agent=agent_id, offer_id=offer_id, note=note))
            return self._ticket_or_fail(tx.conn, ticket.id)

        ticket = self._transactor.run(work)
        self._after_change()
        return ticket

    def _requeue(self, tx: Transaction, ticket: Ticket, now: dt.datetime, *, keep_sla: bool, **values: Any) -> None:
        """Put the ticket back in the queue; a fresh SLA unless `keep_sla` (it was never taken)."""
        sla = {} if keep_sla else self._fresh_sla(ticket.priority, now)
        tx.conn.execute(
            sa.update(tickets_table)
            .where(tickets_table.c.id == ticket.id)
            .values(state=TicketState.QUEUED.value, agent_id=None, assigned_at=None, queued_at=now, **sla, **values)
        )

    # -- timers ---------------------------------------------------------------------------------------------

    def tick(self) -> TickResult:
        """Expire offers whose time is up (the ticket goes to the next agent), widen searches whose next step is
        due (through every step that is due, each recorded) and record SLA breaches (telling the supervisors,
        dropping a transfer's target)."""
        now = self.now()
        o, t = offers_table.c, tickets_table.c
        with self.engine.connect() as conn:
            due_offers = list(
                conn.execute(
                    sa.select(o.id, o.ticket_id)
                    .where(o.state == OfferState.OPEN.value, o.expires_at <= now)
                    .order_by(o.expires_at, o.id)
                )
            )
            overdue = list(
                conn.execute(
                    sa.select(t.id)
                    .where(
                        t.state.in_(WAITING),
                        sa.or_(sa.and_(t.sla_breached.is_(False), t.sla_due_at <= now), t.next_widen_at <= now),
                    )
                    .order_by(*QUEUE_ORDER)
                ).scalars()
            )
        expired = [
            offer
            for row in due_offers
            if (
                offer := self._transactor.run(
                    partial(self._expire, offer_id=int(row.id), ticket_id=int(row.ticket_id), now=now)
                )
            )
            is not None
        ]
        breached: list[Ticket] = []
        widened: list[Ticket] = []
        for ticket_id in overdue:
            outcome = self._transactor.run(partial(self._overdue, ticket_id=ticket_id, now=now))
            if outcome is not None:
                ticket, was_breached, did_widen = outcome
                if was_breached:
                    breached.append(ticket)
                if did_widen:
                    widened.append(ticket)
        if expired or widened or breached:
            self._after_change()
        return TickResult(expired=tuple(expired), breached=tuple(breached), widened=tuple(widened))

    def _expire(self, tx: Transaction, offer_id: int, ticket_id: int, now: dt.datetime) -> Offer | None:
        row = self._locked_ticket(tx.conn, ticket_id, skip_locked=True)
        if row is None:
            return None
        o = offers_table.c
        offer = tx.conn.execute(
            sa.select(offers_table).where(o.id == offer_id, o.state == OfferState.OPEN.value, o.expires_at <= now)
        ).first()
        if offer is None:
            return None
        tx.conn.execute(sa.update(offers_table).where(o.id == offer_id).values(state="expired", closed_at=now))
        ticket = ticket_from_row(row, self.config.steps_for)
        self._requeue(tx, ticket, now, keep_sla=True)
        tx.record(self._event(EventKind.OFFER_EXPIRED, ticket, now, from_agent=offer.agent_id, offer_id=offer_id))
        return _closed(offer, now)

    def _overdue(self, tx: Transaction, ticket_id: int, now: dt.datetime) -> tuple[Ticket, bool, bool] | None:
        row = self._locked_ticket(tx.conn, ticket_id, skip_locked=True)
        if row is None or row.state not in WAITING:
            return None
        ticket = ticket_from_row(row, self.config.steps_for)
        values: dict[str, Any] = {}
        was_breached = did_widen = False
        if not ticket.sla_breached and ticket.sla_due_at <= now:
            was_breached = True
            values.update(sla_breached=True, target_agent_id=None, target_team_id=None)
            waited = round((now - ticket.created_at).total_seconds(), 3)
            tx.record(
                self._event(
                    EventKind.SLA_BREACHED,
                    ticket,
                    now,
                    agent_id=ticket.agent_id,
                    team=ticket.target_team or ticket.team,
                    note=f"waited {waited}s, SLA {self.config.sla_for(ticket.priority):g}s",
                    notify=supervisors(tx.conn, ticket.target_team or ticket.team),
                )
            )
        step = ticket.step
        scopes = self.config.steps_for(ticket.priority)
        widen_at = self._widen_at(ticket.priority, ticket.sla_due_at, step)
        while widen_at is not None and widen_at <= now:
            step += 1
            did_widen = True
            tx.record(self._event(EventKind.WIDENED, ticket, now, scope=scopes[step], team=ticket.team))
            widen_at = self._widen_at(ticket.priority, ticket.sla_due_at, step)
        if did_widen:
            values.update(step=step)
        values["next_widen_at"] = widen_at
        tx.conn.execute(sa.update(tickets_table).where(tickets_table.c.id == ticket_id).values(**values))
        return self._ticket_or_fail(tx.conn, ticket_id), was_breached, did_widen

    def next_deadline(self) -> dt.datetime | None:
        """The earliest moment a timer runs out (an offer, an SLA, a widening step), or None."""
        o, t = offers_table.c, tickets_table.c
        with self.engine.connect() as conn:
            offer = conn.execute(sa.select(sa.func.min(o.expires_at)).where(o.state == OfferState.OPEN.value))
            first_offer = offer.scalar_one()
            sla = conn.execute(
                sa.select(sa.func.min(t.sla_due_at)).where(t.state.in_(WAITING), t.sla_breached.is_(False))
            ).scalar_one()
            widen = conn.execute(sa.select(sa.func.min(t.next_widen_at)).where(t.state.in_(WAITING))).scalar_one()
        times = [utc(value) for value in (first_offer, sla, widen) if value is not None]
        return min(times) if times else None

    def work(self) -> tuple[TickResult, list[Offer]]:
        """One pass of a background worker: run the timers, then dispatch."""
        result = self.tick()
        return result, self.dispatch()

    # -- status, hand-back, transfer, resolve ----------------------------------------------------------------

    def set_status(
        self, agent_id: str, status: AgentStatus, *, hand_back_assigned: bool = False, note: str = ""
    ) -> list[Ticket]:
        """Change an agent's status; returns the tickets handed back to the queue (see the module docstring
        for what away and offline hand back)."""
        now = self.now()

        def change(tx: Transaction) -> bool:
            agent = self._agent_row(tx.conn, agent_id, lock=True)
            if AgentStatus(agent.status) is status:
                return False
            values: dict[str, Any] = {"status": status.value, "status_changed_at": now}
            if status is AgentStatus.ONLINE:
                values["idle_since"] = now
            tx.conn.execute(sa.update(agents_table).where(agents_table.c.id == agent_id).values(**values))
            tx.record(RoutingEvent(kind=EventKind.STATUS_CHANGED, at=now, agent_id=agent_id, status=status, note=note))
            return True

        # The status commits first: from then on no dispatcher offers the agent anything (they re-read the
        # status under the agent's lock), so the hand-back below sees every offer the agent will ever get.
        changed = self._transactor.run(change)
        handed: list[Ticket] = []
        if changed and status is not AgentStatus.ONLINE:
            handed = self._transactor.run(
                partial(
                    self._hand_back_all,
                    agent_id=agent_id,
                    status=status,
                    assigned=hand_back_assigned,
                    note=note,
                    now=now,
                )
            )
        if changed:
            self._after_change()
        return handed

    def _hand_back_all(
        self, tx: Transaction, agent_id: str, status: AgentStatus, assigned: bool, note: str, now: dt.datetime
    ) -> list[Ticket]:
        t = tickets_table.c
        holding = [TicketState.OFFERED.value]
        if status is AgentStatus.OFFLINE and assigned:
            holding.append(TicketState.ASSIGNED.value)
        mine = sa.and_(t.agent_id == agent_id, t.state.in_(holding))
        if status is AgentStatus.OFFLINE:
            mine = sa.or_(mine, sa.and_(t.target_agent_id == agent_id, t.state == TicketState.QUEUED.value))
        rows = list(tx.conn.execute(sa.select(tickets_table).where(mine).order_by(t.id).with_for_update()))
        if AgentStatus(self._agent_row(tx.conn, agent_id).status) is AgentStatus.ONLINE:
            return []  # they came back in the meantime
        handed: list[Ticket] = []
        why = note or f"agent {agent_id} went {status.value}"
        for row in rows:
            ticket = ticket_from_row(row, self.config.steps_for)
            if ticket.state is TicketState.OFFERED:
                self._close_open_offer(tx, ticket.id, OfferState.REVOKED, now)
                self._requeue(tx, ticket, now, keep_sla=True)
            elif ticket.state is TicketState.ASSIGNED:
                self._requeue(tx, ticket, now, keep_sla=False)
            else:
                tx.conn.execute(sa.update(tickets_table).where(t.id == ticket.id).values(target_agent_id=None))
            tx.record(self._event(EventKind.HANDED_BACK, ticket, now, from_agent=agent_id, note=why))
            handed.append(self._ticket_or_fail(tx.conn, ticket.id))
        return handed

    def hand_back(self, ticket_id: int, agent_id: str, note: str = "") -> Ticket:
        """The agent gives an assigned conversation back to the queue (fresh SLA, original place)."""
        now = self.now()

        def work(tx: Transaction) -> Ticket:
            ticket = self._ticket_or_fail(tx.conn, ticket_id)
            if ticket.state is not TicketState.ASSIGNED or ticket.agent_id != agent_id:
                held = f"{ticket.state.value} (agent {ticket.agent_id!r})"
                msg = f"ticket {ticket_id} is {held}, not assigned to {agent_id!r}"
                raise ConflictError(msg)
            self._requeue(tx, ticket, now, keep_sla=False)
            self._release(tx, agent_id, now)
            tx.record(self._event(EventKind.HANDED_BACK, ticket, now, from_agent=agent_id, note=note))
            return self._ticket_or_fail(tx.conn, ticket_id)

        ticket = self._transactor.run(work)
        self._after_change()
        return ticket

    def transfer(
        self, ticket_id: int, *, by: str, to_agent: str | None = None, to_team: str | None = None, note: str = ""
    ) -> Ticket:
        """Move a conversation to another agent or team, keeping its history: it waits for them alone (with a
        fresh SLA, after which the search widens as usual). `by` is the holder, a supervisor or an admin."""
        if (to_agent is None) == (to_team is None):
            msg = f"a transfer needs exactly one of to_agent or to_team, got to_agent={to_agent!r}, to_team={to_team!r}"
            raise RoutingError(msg)
        now = self.now()

        def work(tx: Transaction) -> Ticket:
            ticket = self._ticket_or_fail(tx.conn, ticket_id)
            if ticket.state is TicketState.RESOLVED:
                msg = f"ticket {ticket_id} is resolved; it cannot be transferred"
                raise ConflictError(msg)
            _may_act(agent_from_row(self._agent_row(tx.conn, by)), ticket, "transfer")
            if to_agent is not None:
                self._agent_row(tx.conn, to_agent)
                if to_agent == ticket.agent_id:
                    msg = f"ticket {ticket_id} is already with agent {to_agent!r}"
                    raise ConflictError(msg)
            if to_team is not None and self._team(tx.conn, to_team) is None:
                msg = f"no team with id {to_team!r}"
                raise NotFoundError(msg)
            self._close_open_offer(tx, ticket_id, OfferState.REVOKED, now)
            team = {"team_id": to_team} if to_team is not None else {}
            self._requeue(tx, ticket, now, keep_sla=False, target_agent_id=to_agent, target_team_id=to_team, **team)
            if ticket.state is TicketState.ASSIGNED:
                self._release(tx, ticket.agent_id, now)
            tx.record(
                self._event(
                    EventKind.TRANSFERRED,
                    ticket,
                    now,
                    agent_id=to_agent,
                    from_agent=ticket.agent_id,
                    team=to_team,
                    note=note or f"transferred by {by}",
                )
            )
            return self._ticket_or_fail(tx.conn, ticket_id)

        ticket = self._transactor.run(work)
        self._after_change()
        return ticket

    def resolve(self, ticket_id: int, *, by: str | None, reason: str) -> Ticket:
        """Close a conversation (freeing the agent's capacity); `by` is the holder, a supervisor or an admin,
        or None when the system closes it (the customer left)."""
        now = self.now()

        def work(tx: Transaction) -> Ticket:
            ticket = self._ticket_or_fail(tx.conn, ticket_id)
            if ticket.state is TicketState.RESOLVED:
                msg = f"ticket {ticket_id} was already resolved at {ticket.resolved_at}"
                raise ConflictError(msg)
            if by is not None:
                _may_act(agent_from_row(self._agent_row(tx.conn, by)), ticket, "resolve")
            self._close_open_offer(tx, ticket_id, OfferState.REVOKED, now)
            holder = ticket.agent_id if ticket.state is TicketState.ASSIGNED else None
            tx.conn.execute(
                sa.update(tickets_table)
                .where(tickets_table.c.id == ticket_id)
                .values(state=TicketState.RESOLVED.value, agent_id=holder, resolved_at=now, resolution=reason[:256])
            )
            self._release(tx, holder, now)
            tx.record(self._event(EventKind.RESOLVED, ticket, now, agent_id=holder, note=reason))
            return self._ticket_or_fail(tx.conn, ticket_id)

        ticket = self._transactor.run(work)
        self._after_change()
        return ticket

    # -- reading -------------------------------------------------------------------------------------------

    def ticket(self, ticket_id: int) -> Ticket:
        """The ticket with this id."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(tickets_table).where(tickets_table.c.id == ticket_id)).first()
        if row is None:
            msg = f"no ticket with id {ticket_id}"
            raise NotFoundError(msg)
        return ticket_from_row(row, self.config.steps_for)

    def ticket_for(self, conversation_id: str) -> Ticket | None:
        """The conversation's ticket that is not resolved, if any (who holds it, or that it waits)."""
        with self.engine.connect() as conn:
            return self._open_ticket(conn, conversation_id)

    def last_ticket(self, conversation_id: str) -> Ticket | None:
        """The conversation's most recent ticket, in whatever state."""
        t = tickets_table.c
        query = sa.select(tickets_table).where(t.conversation_id == conversation_id).order_by(t.id.desc()).limit(1)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return ticket_from_row(row, self.config.steps_for) if row is not None else None

    def tickets(
        self, *, agent_id: str | None = None, states: tuple[TicketState, ...] = (), limit: int = 500
    ) -> list[Ticket]:
        """Tickets, optionally of one agent and in some states, in queue order."""
        t = tickets_table.c
        query = sa.select(tickets_table).order_by(*QUEUE_ORDER).limit(limit)
        if agent_id is not None:
            query = query.where(t.agent_id == agent_id)
        if states:
            query = query.where(t.state.in_([state.value for state in states]))
        with self.engine.connect() as conn:
            return [ticket_from_row(row, self.config.steps_for) for row in conn.execute(query)]

    def offers(self, *, agent_id: str | None = None, state: OfferState | None = OfferState.OPEN) -> list[Offer]:
        """Offers (open ones by default), optionally of one agent, oldest first."""
        o = offers_table.c
        query = sa.select(offers_table).order_by(o.id)
        if agent_id is not None:
            query = query.where(o.agent_id == agent_id)
        if state is not None:
            query = query.where(o.state == state.value)
        with self.engine.connect() as conn:
            return [offer_from_row(row) for row in conn.execute(query)]

    def history(self, ticket_id: int) -> list[RoutingEvent]:
        """Every recorded step of the ticket, oldest first."""
        e = events_table.c
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(events_table).where(e.ticket_id == ticket_id).order_by(e.id))
            return [event_from_row(row) for row in rows]

    def erase_conversations(self, conversation_ids: Iterable[str]) -> int:
        """Remove every ticket, offer and history step of these conversations (a customer's erasure);
        returns how many tickets went."""
        ids = sorted(set(conversation_ids))
        if not ids:
            return 0
        t = tickets_table.c
        with self.engine.begin() as conn:
            tickets = [row.id for row in conn.execute(sa.select(t.id).where(t.conversation_id.in_(ids)))]
            conn.execute(
                sa.delete(events_table).where(
                    sa.or_(events_table.c.conversation_id.in_(ids), events_table.c.ticket_id.in_(tickets))
                )
            )
            conn.execute(sa.delete(offers_table).where(offers_table.c.ticket_id.in_(tickets)))
            conn.execute(sa.delete(tickets_table).where(t.id.in_(tickets)))
        return len(tickets)

    def snapshot(self) -> QueueSnapshot:
        """Every queue with its waiting tickets and SLA state, and every agent's load (for supervisors)."""
        with self.engine.connect() as conn:
            return snapshot(conn, self.config, self.now())

    # -- agents and teams ------------------------------------------------------------------------------------

    def agents(self) -> list[HumanAgent]:
        """Every agent, by id."""
        with self.engine.connect() as conn:
            return [agent_from_row(row) for row in conn.execute(sa.select(agents_table).order_by(agents_table.c.id))]

    def agent(self, agent_id: str) -> HumanAgent:
        """The agent with this id."""
        with self.engine.connect() as conn:
            return agent_from_row(self._agent_row(conn, agent_id))

    def upsert_agent(self, agent: HumanAgent) -> HumanAgent:
        """Create an agent (with its status) or update its profile; an existing agent's status changes only
        through `set_status`, which hands work back."""
        now = self.now()

        def work(tx: Transaction) -> HumanAgent:
            if agent.team is not None and self._team(tx.conn, agent.team) is None:
                msg = f"agent {agent.id!r} names team {agent.team!r}, which does not exist"
                raise NotFoundError(msg)
            exists = tx.conn.execute(
                sa.select(agents_table.c.id).where(agents_table.c.id == agent.id).with_for_update()
            ).first()
            values = {**agent_values(agent), "updated_at": now}
            if exists is None:
                idle = now if agent.status is AgentStatus.ONLINE else None
                tx.conn.execute(
                    sa.insert(agents_table).values(
                        id=agent.id, status=agent.status.value, status_changed_at=now, idle_since=idle, **values
                    )
                )
            else:
                tx.conn.execute(sa.update(agents_table).where(agents_table.c.id == agent.id).values(**values))
            return agent_from_row(self._agent_row(tx.conn, agent.id))

        stored = self._transactor.run(work)
        self._after_change()
        return stored

    def remove_agent(self, agent_id: str) -> None:
        """Delete an agent who holds no conversation and has no open offer (history keeps their id)."""

        def work(tx: Transaction) -> None:
            self._agent_row(tx.conn, agent_id, lock=True)
            t = tickets_table.c
            held = tx.conn.execute(
                sa.select(sa.func.count()).where(t.agent_id == agent_id, t.state.in_(HOLDING))
            ).scalar_one()
            if held:
                msg = f"agent {agent_id!r} still holds {held} conversation(s); transfer or resolve them first"
                raise ConflictError(msg)
            tx.conn.execute(sa.delete(agents_table).where(agents_table.c.id == agent_id))

        self._transactor.run(work)

    def teams(self) -> list[Team]:
        """Every team, by id."""
        with self.engine.connect() as conn:
            return self._teams(conn)

    def team(self, team_id: str) -> Team | None:
        """The team with this id, or None."""
        with self.engine.connect() as conn:
            return self._team(conn, team_id)

    def _teams(self, conn: sa.Connection) -> list[Team]:
        return [team_from_row(row) for row in conn.execute(sa.select(teams_table).order_by(teams_table.c.id))]

    def _team(self, conn: sa.Connection, team_id: str) -> Team | None:
        row = conn.execute(sa.select(teams_table).where(teams_table.c.id == team_id)).first()
        return team_from_row(row) if row is not None else None

    def upsert_team(self, team: Team) -> Team:
        """Create or update a team."""
        now = self.now()

        def work(tx: Transaction) -> None:
            values = {"name": team.name, "skills": list(team.skills), "updated_at": now}
            updated = tx.conn.execute(sa.update(teams_table).where(teams_table.c.id == team.id).values(**values))
            if updated.rowcount == 0:
                tx.conn.execute(sa.insert(teams_table).values(id=team.id, **values))

        self._transactor.run(work)
        return team

    def sync_roster(self, roster: Roster, *, remove_missing: bool = False) -> None:
        """Make the teams and agents match a roster file (profiles only for agents who exist); with
        `remove_missing`, agents absent from the file are set offline, handing back their work, and removed."""
        for team in roster.teams:
            self.upsert_team(team)
        for agent in roster.agents:
            self.upsert_agent(agent)
        if remove_missing:
            wanted = {agent.id for agent in roster.agents}
            for agent in self.agents():
                if agent.id not in wanted:
                    self.set_status(agent.id, AgentStatus.OFFLINE, hand_back_assigned=True, note="removed from roster")
                    self.remove_agent(agent.id)


def _closed(row: sa.Row[Any], now: dt.datetime) -> Offer:
    offer = offer_from_row(row)
    return Offer(offer.id, offer.ticket_id, offer.agent_id, OfferState.EXPIRED, offer.created_at, offer.expires_at, now)


def _may_act(actor: HumanAgent, ticket: Ticket, action: str) -> None:
    """Raise `PermissionDeniedError` unless `actor` may `action` the ticket: a supervisor or an admin, or the
    agent it is assigned to. An agent it is only offered to may accept or decline the offer, nothing more."""
    if actor.role is not Role.AGENT:
        return
    if ticket.state is TicketState.ASSIGNED and ticket.agent_id == actor.id:
        return
    if ticket.state is TicketState.OFFERED and ticket.agent_id == actor.id:
        msg = (
            f"agent {actor.id!r} was only offered ticket {ticket.id}: accept the offer before trying to {action} "
            "it (only the assigned agent or a supervisor may)"
        )
        raise PermissionDeniedError(msg)
    msg = f"agent {actor.id!r} neither holds ticket {ticket.id} (held by {ticket.agent_id!r}) nor supervises"
    raise PermissionDeniedError(msg)
