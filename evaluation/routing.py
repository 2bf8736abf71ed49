"""The routing simulation: replay a day of escalations through the real Router with a simulated clock, once
with the skills policy and once with plain round robin, and measure both.

The events file is JSON lines (see `evaluation.routing_events`): an optional `meta` line with the day's
`start`, `escalation` lines (`at` seconds from the start, `id`, `channel`, `skill`, `priority`,
`language`, `handle_seconds`) and `status` lines (`at`, `agent`, `status`). Each policy runs on its own
in-memory SQLite database, driven event by event (arrivals, agents' answers, resolutions and the router's
own timers), so a day takes seconds.

Simulated agents answer an offer after a delay drawn uniformly from `accept_delay`, or let it expire with
probability `miss_rate`; the draws depend on the ticket and how many offers it has had, not on the policy,
so both policies meet the same agents' behaviour. A conversation is handled for its `handle_seconds`,
times `mismatch_slowdown` when the agent lacks the skill at the required level (an assumption: 1.5 by
default; 1.0 takes skills out of the handle time). An agent going offline keeps and finishes their
conversations. The result's `fairness` checks this: both runs got the same tickets for the same
conversations with the same handle times, and the same answer to every (ticket, n-th offer) both made.

Measures per policy: wait from escalation to acceptance (p50, p95 per priority, over the conversations some
agent took; `unserved` counts those nobody took by the end, e.g. no one online spoke the language), SLA
breaches (count and rate per priority), utilisation (time holding at least one conversation / time
online), and skill match rate (the share of conversations taken by an agent holding the skill at the
required level).

Run: `frontdesk eval routing --events day.jsonl`, or with the agents' behaviour as options:
`python -m evaluation.routing --events day.jsonl --mismatch-slowdown 1.0`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import heapq
import itertools
import json
import random
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

from routing.assignment import AssignmentPolicy, RoundRobinPolicy, SkillsPolicy
from routing.errors import ConflictError
from routing.models import EscalationRequest, EventKind, RoutingEvent
from routing.roster import EXAMPLE_ROSTER, AgentStatus, Roster, load_roster
from routing.service import Router
from routing.skillmap import SkillMap
from routing.store import events_table, metadata, tickets_table, utc

DIGITS = 4
DEFAULT_START = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class Escalation:
    """One escalation of the events file."""

    at: float
    id: str
    channel: str
    skill: str | None
    priority: int | None
    language: str | None
    handle_seconds: float
    summary: str = ""


@dataclass(frozen=True, slots=True)
class StatusChange:
    """An agent's status change of the events file."""

    at: float
    agent: str
    status: AgentStatus


@dataclass(frozen=True, slots=True)
class DayOfEvents:
    """A parsed events file."""

    start: dt.datetime
    escalations: tuple[Escalation, ...]
    status_changes: tuple[StatusChange, ...]


@dataclass(frozen=True, slots=True)
class SimulationSettings:
    """How simulated agents behave (see the module docstring)."""

    accept_delay: tuple[float, float] = (3.0, 15.0)
    miss_rate: float = 0.05
    mismatch_slowdown: float = 1.5
    seed: int = 7


def load_events(path: Path) -> DayOfEvents:
    """Parse an events file; `ValueError` names the line and the field at fault."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        msg = f"{path}: cannot read the events ({exc.strerror or exc})"
        raise ValueError(msg) from exc
    start = DEFAULT_START
    escalations: list[Escalation] = []
    changes: list[StatusChange] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            msg = f"{where}: not valid JSON ({exc.msg})"
            raise ValueError(msg) from exc
        if not isinstance(raw, dict):
            msg = f"{where}: expected a JSON object, got {type(raw).__name__}"
            raise ValueError(msg)
        kind = raw.get("type")
        if kind == "meta":
            start = _start(raw.get("start", DEFAULT_START.isoformat()), where)
        elif kind == "escalation":
            escalations.append(_escalation(raw, where))
        elif kind == "status":
            changes.append(_status(raw, where))
        else:
            msg = f"{where}: 'type' must be meta, escalation or status, got {kind!r}"
            raise ValueError(msg)
    if not escalations:
        msg = f"{path}: no escalation events"
        raise ValueError(msg)
    return DayOfEvents(start, tuple(escalations), tuple(changes))


def _start(value: object, where: str) -> dt.datetime:
    try:
        start = dt.datetime.fromisoformat(str(value))
    except ValueError as exc:
        msg = f"{where}: 'start' must be an ISO timestamp, got {value!r}"
        raise ValueError(msg) from exc
    return start if start.tzinfo else start.replace(tzinfo=dt.UTC)


def _number(raw: dict[str, Any], key: str, where: str, *, minimum: float = 0.0) -> float:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        msg = f"{where}: '{key}' must be a number >= {minimum:g}, got {value!r}"
        raise ValueError(msg)
    return float(value)


def _text(raw: dict[str, Any], key: str, where: str, *, required: bool = True) -> str | None:
    value = raw.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        msg = f"{where}: '{key}' must be a non-empty string, got {value!r}"
        raise ValueError(msg)
    return value


def _escalation(raw: dict[str, Any], where: str) -> Escalation:
    priority = raw.get("priority")
    if priority is not None and (isinstance(priority, bool) or not isinstance(priority, int) or priority < 1):
        msg = f"{where}: 'priority' must be an integer >= 1, got {priority!r}"
        raise ValueError(msg)
    return Escalation(
        at=_number(raw, "at", where),
        id=str(_text(raw, "id", where)),
        channel=str(_text(raw, "channel", where)),
        skill=_text(raw, "skill", where, required=False),
        priority=priority,
        language=_text(raw, "language", where, required=False),
        handle_seconds=_number(raw, "handle_seconds", where, minimum=1.0),
        summary=str(raw.get("text", ""))[:500],
    )


def _status(raw: dict[str, Any], where: str) -> StatusChange:
    status = raw.get("status")
    try:
        parsed = AgentStatus(str(status))
    except ValueError as exc:
        msg = f"{where}: 'status' must be online, away or offline, got {status!r}"
        raise ValueError(msg) from exc
    return StatusChange(at=_number(raw, "at", where), agent=str(_text(raw, "agent", where)), status=parsed)


def agent_answer(settings: SimulationSettings, ticket_id: int, nth_offer: int) -> float | None:
    """How the agent answers the `nth_offer` of a ticket: after how many seconds they accept, or None when
    they let it expire. Seeded by the ticket and the offer's number only, never by the policy or the agent."""
    rng = random.Random(f"{settings.seed}:{ticket_id}:{nth_offer}")
    if rng.random() < settings.miss_rate:
        return None
    return rng.uniform(*settings.accept_delay)


@dataclass(slots=True)
class _Clock:
    now: dt.datetime

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass(slots=True)
class _Simulation:
    """One policy's run: the router, the simulated agents' pending actions, and the day."""

    day: DayOfEvents
    roster: Roster
    policy: AssignmentPolicy
    settings: SimulationSettings
    clock: _Clock = field(init=False)
    router: Router = field(init=False)
    engine: sa.Engine = field(init=False)
    pending: list[tuple[dt.datetime, int, Callable[[], object]]] = field(default_factory=list)
    sequence: itertools.count[int] = field(default_factory=itertools.count)
    offers_made: Counter[int] = field(default_factory=Counter)
    handle: dict[int, float] = field(default_factory=dict)
    arrivals: dict[str, tuple[int, float]] = field(default_factory=dict)
    answers: dict[tuple[int, int], float | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.clock = _Clock(self.day.start)
        self.engine = sa.create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
        metadata.create_all(self.engine)
        self.router = Router(
            self.engine,
            self.roster.routing,
            policy=self.policy,
            now=self.clock,
            listener=self._heard,
            auto_dispatch=False,
        )
        self.router.sync_roster(self.roster)

    def at(self, seconds: float) -> dt.datetime:
        return self.day.start + dt.timedelta(seconds=seconds)

    def schedule(self, when: dt.datetime, action: Callable[[], object]) -> None:
        heapq.heappush(self.pending, (when, next(self.sequence), action))

    def _heard(self, event: RoutingEvent) -> None:
        if event.kind is not EventKind.OFFERED or event.ticket_id is None or event.offer_id is None:
            return
        ticket_id, offer_id, agent_id = event.ticket_id, event.offer_id, str(event.agent_id)
        self.offers_made[ticket_id] += 1
        delay = agent_answer(self.settings, ticket_id, self.offers_made[ticket_id])
        self.answers[(ticket_id, self.offers_made[ticket_id])] = delay
        if delay is None:
            return  # the agent lets the offer expire
        self.schedule(event.at + dt.timedelta(seconds=delay), partial(self._accept, offer_id, agent_id, ticket_id))

    def _accept(self, offer_id: int, agent_id: str, ticket_id: int) -> None:
        try:
            ticket = self.router.accept(offer_id, agent_id)
        except ConflictError:  # revoked (the agent went offline) or expired meanwhile
            return
        agent = self.router.agent(agent_id)
        matched = ticket.skill is None or agent.level(ticket.skill) >= ticket.min_level
        seconds = self.handle[ticket_id] * (1.0 if matched else self.settings.mismatch_slowdown)
        done = partial(self.router.resolve, ticket_id, by=agent_id, reason="handled")
        self.schedule(self.clock.now + dt.timedelta(seconds=seconds), done)

    def _escalate(self, escalation: Escalation) -> None:
        result = self.router.escalate(
            EscalationRequest(
                conversation_id=escalation.id,
                channel=escalation.channel,
                skill=escalation.skill,
                priority=escalation.priority,
                language=escalation.language,
                reason="simulated",
                summary=escalation.summary,
            )
        )
        self.handle[result.ticket.id] = escalation.handle_seconds
        self.arrivals[escalation.id] = (result.ticket.id, escalation.handle_seconds)

    def _set_status(self, change: StatusChange) -> None:
        self.router.set_status(change.agent, change.status)

    def run(self) -> None:
        for escalation in self.day.escalations:
            self.schedule(self.at(escalation.at), partial(self._escalate, escalation))
        for change in self.day.status_changes:
            self.schedule(self.at(change.at), partial(self._set_status, change))
        while True:
            upcoming = [self.pending[0][0]] if self.pending else []
            deadline = self.router.next_deadline()
            if deadline is not None:
                upcoming.append(deadline)
            if not upcoming:
                return
            self.clock.now = max(self.clock.now, min(upcoming))
            while self.pending and self.pending[0][0] <= self.clock.now:
                _, _, action = heapq.heappop(self.pending)
                action()
            self.router.tick()
            self.router.dispatch()


def _percentile(values: Sequence[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def _intervals_overlap(busy: list[tuple[float, float]], online: list[tuple[float, float]]) -> float:
    total = 0.0
    for start, end in online:
        for b_start, b_end in busy:
            total += max(0.0, min(end, b_end) - max(start, b_start))
    return total


def _union(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def measure(engine: sa.Engine, roster: Roster, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    """The wait, SLA, utilisation and skill-match figures of one finished run."""
    levels = {agent.id: agent for agent in roster.agents}

    def seconds(moment: dt.datetime) -> float:
        return (utc(moment) - start).total_seconds()

    with engine.connect() as conn:
        tickets = {row.id: row for row in conn.execute(sa.select(tickets_table))}
        events = list(conn.execute(sa.select(events_table).order_by(events_table.c.id)))
    accepted: dict[int, tuple[float, str]] = {}
    resolved: dict[int, float] = {}
    breached: set[int] = set()
    online: dict[str, list[tuple[float, float]]] = defaultdict(list)
    since: dict[str, float] = {}
    counts: Counter[str] = Counter()
    for event in events:
        counts[event.kind] += 1
        at = seconds(event.at)
        if event.kind == EventKind.ACCEPTED.value and event.ticket_id not in accepted:
            accepted[event.ticket_id] = (at, event.agent_id)
        elif event.kind == EventKind.RESOLVED.value:
            resolved[event.ticket_id] = at
        elif event.kind == EventKind.SLA_BREACHED.value:
            breached.add(event.ticket_id)
        elif event.kind == EventKind.STATUS_CHANGED.value:
            status = event.details.get("status")
            if status == AgentStatus.ONLINE.value:
                since.setdefault(event.agent_id, at)
            elif event.agent_id in since:
                online[event.agent_id].append((since.pop(event.agent_id), at))
    horizon = seconds(end)
    for agent_id, began in since.items():
        online[agent_id].append((began, horizon))

    waits: dict[int, list[float]] = defaultdict(list)
    per_priority: Counter[int] = Counter()
    breaches: Counter[int] = Counter()
    busy: dict[str, list[tuple[float, float]]] = defaultdict(list)
    matched = considered = 0
    for ticket_id, row in tickets.items():
        priority = int(row.priority)
        per_priority[priority] += 1
        breaches[priority] += ticket_id in breached
        if ticket_id not in accepted:
            continue
        taken_at, agent_id = accepted[ticket_id]
        waits[priority].append(taken_at - seconds(row.created_at))
        busy[agent_id].append((taken_at, resolved.get(ticket_id, horizon)))
        if row.skill is not None:
            considered += 1
            agent = levels.get(agent_id)
            matched += agent is not None and agent.level(row.skill) >= row.min_level
    busy_seconds = {agent: _intervals_overlap(_union(spans), online.get(agent, [])) for agent, spans in busy.items()}
    online_seconds = {agent: sum(end - begin for begin, end in spans) for agent, spans in online.items()}
    total_online = sum(online_seconds.values())
    priorities = sorted(per_priority)
    return {
        "tickets": len(tickets),
        "served": len(accepted),
        "unserved": len(tickets) - len(accepted),
        "wait_seconds": {
            str(p): {"n": len(waits[p]), "p50": _percentile(waits[p], 50), "p95": _percentile(waits[p], 95)}
            for p in priorities
        },
        "sla_breaches": {
            **{
                str(p): {"count": breaches[p], "rate": round(breaches[p] / per_priority[p], DIGITS)} for p in priorities
            },
            "all": {"count": sum(breaches.values()), "rate": round(sum(breaches.values()) / len(tickets), DIGITS)},
        },
        "utilisation": round(sum(busy_seconds.values()) / total_online, DIGITS) if total_online else 0.0,
        "utilisation_by_agent": {
            agent: round(busy_seconds.get(agent, 0.0) / online_seconds[agent], DIGITS)
            for agent in sorted(online_seconds)
            if online_seconds[agent] > 0
        },
        "skill_match_rate": round(matched / considered, DIGITS) if considered else None,
        "offers": counts[EventKind.OFFERED.value],
        "offers_expired": counts[EventKind.OFFER_EXPIRED.value],
        "widenings": counts[EventKind.WIDENED.value],
    }


POLICIES: tuple[Callable[[], AssignmentPolicy], ...] = (SkillsPolicy, RoundRobinPolicy)


def _answers_summary(answers: dict[tuple[int, int], float | None]) -> dict[str, Any]:
    delays = [delay for delay in answers.values() if delay is not None]
    return {
        "offers": len(answers),
        "missed": len(answers) - len(delays),
        "miss_rate": round((len(answers) - len(delays)) / len(answers), DIGITS) if answers else None,
        "mean_accept_delay_seconds": round(sum(delays) / len(delays), 2) if delays else None,
    }


def _replay(
    day: DayOfEvents, roster: Roster, policy: AssignmentPolicy, settings: SimulationSettings
) -> tuple[dict[str, Any], _Simulation]:
    simulation = _Simulation(day, roster, policy, settings)
    try:
        simulation.run()
        measured = measure(simulation.engine, roster, day.start, simulation.clock.now)
    finally:
        simulation.engine.dispose()
    measured["agent_answers"] = _answers_summary(simulation.answers)
    return measured, simulation


def simulate(
    day: DayOfEvents, roster: Roster, policy: AssignmentPolicy, settings: SimulationSettings
) -> dict[str, Any]:
    """Replay the day with one policy and measure it."""
    return _replay(day, roster, policy, settings)[0]


def _fairness(runs: Sequence[_Simulation]) -> dict[str, Any]:
    """Whether every run met the same day: same tickets and handle times, same answers to the same offers."""
    first, *others = runs
    common = set(first.answers)
    for other in others:
        common &= set(other.answers)
    return {
        "same_arrivals": all(other.arrivals == first.arrivals for other in others),
        "same_answers_to_the_same_offers": all(
            other.answers[key] == first.answers[key] for other in others for key in common
        ),
        "offers_compared": len(common),
    }


def run_routing_eval(
    events_path: Path, roster: Roster, *, settings: SimulationSettings | None = None
) -> dict[str, Any]:
    """Replay an events file with the skills policy and with round robin; one JSON-able result."""
    day = load_events(events_path)
    chosen = settings or SimulationSettings()
    results: dict[str, dict[str, Any]] = {}
    runs: list[_Simulation] = []
    for policy in (factory() for factory in POLICIES):
        results[policy.name], run = _replay(day, roster, policy, chosen)
        runs.append(run)
    return {
        "escalations": len(day.escalations),
        "agents": len(roster.agents),
        "status_changes": len(day.status_changes),
        "simulation": {
            "accept_delay_seconds": list(chosen.accept_delay),
            "miss_rate": chosen.miss_rate,
            "mismatch_slowdown": chosen.mismatch_slowdown,
            "seed": chosen.seed,
        },
        "fairness": _fairness(runs),
        "policies": results,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: `frontdesk eval routing` with the simulated agents' behaviour as options."""
    parser = argparse.ArgumentParser(description="Replay a day of escalations with the skills policy and round robin.")
    parser.add_argument("--events", type=Path, required=True, help="JSONL day (python -m evaluation.routing_events)")
    parser.add_argument("--roster", type=Path, default=EXAMPLE_ROSTER, help="roster JSON (default: the example)")
    parser.add_argument("--skills", type=Path, help="skill map JSON to check the roster's skills against")
    parser.add_argument("--seed", type=int, default=7, help="seed of the simulated agents' answers")
    parser.add_argument("--mismatch-slowdown", type=float, default=1.5, help="handle time factor without the skill")
    parser.add_argument("--miss-rate", type=float, default=0.05, help="share of offers left to expire")
    parser.add_argument("--accept-delay", type=float, nargs=2, default=(3.0, 15.0), metavar=("MIN", "MAX"))
    args = parser.parse_args(argv)
    settings = SimulationSettings(
        accept_delay=(args.accept_delay[0], args.accept_delay[1]),
        miss_rate=args.miss_rate,
        mismatch_slowdown=args.mismatch_slowdown,
        seed=args.seed,
    )
    try:
        skill_map = SkillMap.from_file(args.skills) if args.skills is not None else None
        result = run_routing_eval(args.events, load_roster(args.roster, skill_map=skill_map), settings=settings)
    except ValueError as exc:  # RosterError is a ValueError too
        sys.stderr.write(f"error: {exc}\n")
        return 1
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
