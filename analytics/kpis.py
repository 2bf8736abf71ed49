"""Support KPIs over a period, computed from the interaction log, with breakdowns by channel, day and skill.

Which conversations count. The period is `[since, until)`. A conversation is counted when it has at least
one customer message (`message_in`) in the period; its *start* is its first customer message in the period.
It is attributed to the channel of that message, to the UTC day of its start (a conversation that runs over
midnight counts once, on the day it started) and to its skill: that of its escalations, else of its answers
(the first that names one), else "none". Its outcome is read from its events at or after its start, up to
`return_window` (7 days) after `until`: a conversation that started at 23:50 and was resolved at 00:10 counts
as resolved on the day it started, and the figures of a recent period can still change while its
conversations go on.

The KPIs (each one per breakdown value, and over all conversations):

- `conversations`: conversations counted, as above.
- containment: the share of conversations that got an assistant answer and were never escalated.
- escalation rate: the share of conversations escalated at least once; `escalations_by_reason` and
  `escalations_by_intent` count escalated conversations by the reason and intent of their first escalation.
- first-contact resolution (FCR): the share of conversations that were resolved (a `resolution` event) or
  contained, and whose customer did not come back: no other conversation of the same customer started
  after this one's start and no later than `return_window` (7 days) after its end (its resolution, else its
  last event). Conversations with no customer key count as not coming back. Within `return_window` of the
  present the figure is provisional.
- first-response time: from the start to the first assistant answer or human reply (seconds).
- resolution time: from the start to the first resolution (seconds).
- human handle time: from the first assignment to a person to the first resolution after it (seconds).
- CSAT: the share of ratings of 4 or 5 among the conversations' ratings (a conversation rated more than
  once counts with its last rating), and the mean rating.
- answer latency: the 50th and 95th percentiles of the assistant's answer times (`latency_ms`).

Times are summarised by mean and median. Percentiles interpolate linearly between the closest ranks.
Rates and summaries are None when nothing was there to measure.

The work is split between the database and Python: one grouped query reduces the events to one row per
conversation, one narrow query reads the escalations, answers and ratings, and moments come back as seconds
since the epoch computed by the database (parsing datetimes in Python would cost more than the rest); timings
are in `benchmarks/kpi_bench.py`.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import functools
import io
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlalchemy as sa

from analytics.events import utc
from analytics.tables import events_table as ev

Breakdown = Literal["channel", "day", "skill"]
BREAKDOWNS: tuple[str, ...] = ("channel", "day", "skill")
RETURN_WINDOW = dt.timedelta(days=7)
NO_SKILL = "none"
ALL = "all"
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def percentile(ordered: list[float], q: float) -> float | None:
    """The `q`-th percentile (0-100) of ascending `ordered`, interpolating between ranks; None when empty."""
    if not ordered:
        return None
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True, slots=True)
class Duration:
    """A set of durations in seconds: how many, their mean and median (None when there are none)."""

    count: int
    mean: float | None
    median: float | None

    @classmethod
    def of(cls, values: list[float]) -> Duration:
        ordered = sorted(values)
        mean = sum(ordered) / len(ordered) if ordered else None
        return cls(len(ordered), mean, percentile(ordered, 50))


@dataclass(frozen=True, slots=True)
class Kpis:
    """The KPIs of one group of conversations (see the module's docstring for each definition)."""

    conversations: int
    answered: int
    contained: int
    containment_rate: float | None
    escalated: int
    escalation_rate: float | None
    escalations_by_reason: dict[str, int]
    escalations_by_intent: dict[str, int]
    resolved: int
    first_contact_resolved: int
    fcr_rate: float | None
    first_response_s: Duration
    resolution_s: Duration
    handle_s: Duration
    ratings: int
    csat: float | None  # share of ratings >= 4
    rating_mean: float | None
    answers: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None

    def figures(self) -> dict[str, Any]:
        """The KPIs as plain values (what the API answers and the CSV flattens)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class KpiReport:
    """The KPIs of a period: over all its conversations, and per value of the breakdown (when one was asked)."""

    since: dt.datetime
    until: dt.datetime
    by: Breakdown | None
    total: Kpis
    groups: dict[str, Kpis]

    def as_json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "by": self.by,
            "total": self.total.figures(),
            "groups": [{"key": key, **kpis.figures()} for key, kpis in self.groups.items()],
        }


@dataclass(slots=True)
class _Conversation:
    """One counted conversation; moments are seconds since the epoch (UTC), as the database computed them."""

    start: float
    channel: str
    customer: str | None
    last: float
    first_response: float | None
    resolved_at: float | None
    assigned_at: float | None
    answers: int
    escalation_skill: str | None = None
    answer_skill: str | None = None
    escalation: tuple[float, str, str] | None = None  # (moment, reason, intent) of the first escalation
    first_answer: float | None = None  # the moment of the first answer that names a skill
    latencies: list[float] = field(default_factory=list)
    rating: tuple[float, float] | None = None  # (moment, value) of the last rating


def _timed(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else round(end - start, 3)


class _Group:
    """Accumulates conversations into one `Kpis`."""

    def __init__(self) -> None:
        self.conversations = self.answered = self.contained = self.escalated = self.resolved = self.fcr = 0
        self.reasons: dict[str, int] = defaultdict(int)
        self.intents: dict[str, int] = defaultdict(int)
        self.first_response: list[float] = []
        self.resolution: list[float] = []
        self.handle: list[float] = []
        self.ratings: list[float] = []
        self.latencies: list[float] = []

    def add(self, conv: _Conversation, *, came_back: bool) -> None:
        self.conversations += 1
        contained = conv.answers > 0 and conv.escalation is None
        self.answered += conv.answers > 0
        self.contained += contained
        if conv.escalation is not None:
            self.escalated += 1
            self.reasons[conv.escalation[1]] += 1
            self.intents[conv.escalation[2]] += 1
        self.resolved += conv.resolved_at is not None
        self.fcr += (contained or conv.resolved_at is not None) and not came_back
        for values, start, end in (
            (self.first_response, conv.start, conv.first_response),
            (self.resolution, conv.start, conv.resolved_at),
            (self.handle, conv.assigned_at, conv.resolved_at),
        ):
            seconds = _timed(start, end)
            if seconds is not None and seconds >= 0:
                values.append(seconds)
        if conv.rating is not None:
            self.ratings.append(conv.rating[1])
        self.latencies.extend(conv.latencies)

    def kpis(self) -> Kpis:
        latencies, rated, n = sorted(self.latencies), len(self.ratings), self.conversations
        return Kpis(
            conversations=n,
            answered=self.answered,
            contained=self.contained,
            containment_rate=self.contained / n if n else None,
            escalated=self.escalated,
            escalation_rate=self.escalated / n if n else None,
            escalations_by_reason=dict(sorted(self.reasons.items())),
            escalations_by_intent=dict(sorted(self.intents.items())),
            resolved=self.resolved,
            first_contact_resolved=self.fcr,
            fcr_rate=self.fcr / n if n else None,
            first_response_s=Duration.of(self.first_response),
            resolution_s=Duration.of(self.resolution),
            handle_s=Duration.of(self.handle),
            ratings=rated,
            csat=sum(1 for r in self.ratings if r >= 4) / rated if rated else None,
            rating_mean=sum(self.ratings) / rated if rated else None,
            answers=len(latencies),
            latency_p50_ms=percentile(latencies, 50),
            latency_p95_ms=percentile(latencies, 95),
        )


def _kind(*kinds: str) -> sa.ColumnElement[bool]:
    return ev.c.kind == kinds[0] if len(kinds) == 1 else ev.c.kind.in_(kinds)


def compute_kpis(
    engine: sa.Engine,
    *,
    since: dt.datetime,
    until: dt.datetime,
    by: Breakdown | None = None,
    return_window: dt.timedelta = RETURN_WINDOW,
) -> KpiReport:
    """The KPIs of the conversations with a customer message in `[since, until)`, broken down `by`."""
    since, until = utc(since), utc(until)
    if since >= until:
        msg = f"since ({since.isoformat()}) must be before until ({until.isoformat()})"
        raise ValueError(msg)
    if by is not None and by not in BREAKDOWNS:
        msg = f"unknown breakdown {by!r}: expected one of {', '.join(BREAKDOWNS)}"
        raise ValueError(msg)
    if until > dt.datetime.max.replace(tzinfo=dt.UTC) - return_window:
        msg = f"until ({until.isoformat()}) is too far in the future"
        raise ValueError(msg)
    horizon = until + return_window
    with engine.connect() as conn:
        conversations = _conversations(conn, since, until, horizon)
        returns = _returns(conn, since, horizon) if conversations else {}
    total = _Group()
    groups: dict[str, _Group] = defaultdict(_Group)
    window = return_window.total_seconds()
    for conversation_id, conv in conversations.items():
        came_back = _came_back(conversation_id, conv, returns.get(conv.customer or "", ()), window)
        total.add(conv, came_back=came_back)
        if by is not None:
            groups[_key(conv, by)].add(conv, came_back=came_back)
    return KpiReport(since, until, by, total.kpis(), {key: groups[key].kpis() for key in sorted(groups)})


def _key(conv: _Conversation, by: Breakdown) -> str:
    if by == "channel":
        return conv.channel
    if by == "day":
        return _day(math.floor(round(conv.start, 3) / 86400))
    return conv.escalation_skill or conv.answer_skill or NO_SKILL


@functools.cache
def _day(number: int) -> str:
    return (EPOCH + dt.timedelta(days=number)).date().isoformat()


def _epoch(conn: sa.Connection, moment: sa.ColumnElement[Any]) -> sa.ColumnElement[float]:
    """`moment` as seconds since the epoch, computed by the database (much cheaper than parsing datetimes)."""
    if conn.dialect.name == "sqlite":  # stores UTC as text; julianday parses it, to within microseconds
        return (sa.func.julianday(moment) - 2440587.5) * 86400.0
    return sa.cast(sa.extract("epoch", moment), sa.Float)


def _conversations(
    conn: sa.Connection, since: dt.datetime, until: dt.datetime, horizon: dt.datetime
) -> dict[str, _Conversation]:
    cohort = (
        sa.select(ev.c.conversation_id, sa.func.min(ev.c.at).label("start"))
        .where(_kind("message_in"), ev.c.at >= since, ev.c.at < until)
        .group_by(ev.c.conversation_id)
        .subquery("cohort")
    )
    after = ev.c.at >= cohort.c.start
    first_in = sa.and_(_kind("message_in"), ev.c.at == cohort.c.start)

    def first(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[float]:
        return _epoch(conn, sa.func.min(sa.case((sa.and_(condition, after), ev.c.at))))

    query = (
        sa.select(
            ev.c.conversation_id,
            _epoch(conn, cohort.c.start),
            sa.func.max(sa.case((first_in, ev.c.channel))),
            sa.func.max(sa.case((first_in, ev.c.customer))),
            _epoch(conn, sa.func.max(ev.c.at)),
            first(_kind("answer", "human_reply")),
            first(_kind("resolution")),
            first(_kind("assignment")),
            sa.func.sum(sa.case((sa.and_(_kind("answer"), after), 1), else_=0)),
        )
        .select_from(ev.join(cohort, ev.c.conversation_id == cohort.c.conversation_id))
        .where(ev.c.at < horizon)
        .group_by(ev.c.conversation_id, cohort.c.start)
    )
    found = {
        cid: _Conversation(start, channel or "unknown", customer, last, response, resolved, assigned, int(answers or 0))
        for cid, start, channel, customer, last, response, resolved, assigned, answers in conn.execute(query)
    }
    if found:
        _read_steps(conn, found, since, horizon)
    return found


def _read_steps(conn: sa.Connection, found: dict[str, _Conversation], since: dt.datetime, horizon: dt.datetime) -> None:
    """The escalations, answers and ratings of the counted conversations, from their starts to the horizon."""
    query = sa.select(
        ev.c.conversation_id,
        ev.c.kind,
        _epoch(conn, ev.c.at),
        ev.c.reason,
        ev.c.intent,
        ev.c.skill,
        ev.c.latency_ms,
        ev.c.value,
    ).where(_kind("escalation", "answer", "rating"), ev.c.at >= since, ev.c.at < horizon)
    for cid, kind, at, reason, intent, skill, latency_ms, value in conn.execute(query):
        conv = found.get(cid)
        if conv is None or at < conv.start:
            continue
        if kind == "escalation":
            if conv.escalation is None or at < conv.escalation[0]:
                conv.escalation = (at, reason or "unknown", intent or "unknown")
                conv.escalation_skill = skill or conv.escalation_skill
        elif kind == "answer":
            if latency_ms is not None:
                conv.latencies.append(float(latency_ms))
            if skill and (conv.first_answer is None or at < conv.first_answer):
                conv.first_answer, conv.answer_skill = at, skill
        elif value is not None and (conv.rating is None or at >= conv.rating[0]):
            conv.rating = (at, float(value))


def _returns(conn: sa.Connection, since: dt.datetime, until: dt.datetime) -> dict[str, list[tuple[float, str]]]:
    """Per customer key, the (first customer message, conversation id) of their conversations."""
    query = (
        sa.select(ev.c.customer, ev.c.conversation_id, _epoch(conn, sa.func.min(ev.c.at)))
        .where(_kind("message_in"), ev.c.customer.is_not(None), ev.c.at >= since, ev.c.at < until)
        .group_by(ev.c.customer, ev.c.conversation_id)
    )
    found: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for customer, cid, first in conn.execute(query):
        found[customer].append((first, cid))
    return found


def _came_back(conversation_id: str, conv: _Conversation, starts: Iterable[tuple[float, str]], window: float) -> bool:
    end = conv.resolved_at if conv.resolved_at is not None else conv.last
    return any(other != conversation_id and conv.start < at <= end + window for at, other in starts)


# CSV export: one row per group x KPI (long format), so new reasons and intents add rows, not columns.

CSV_HEADER = ("since", "until", "by", "group", "kpi", "value")


def kpi_rows(report: KpiReport) -> Iterator[tuple[str, str, str, str, str, str]]:
    """The report as CSV rows: the group "all" first, then each breakdown value; one KPI a row. Nested figures
    are flattened: `first_response_s.median`, `escalations_by_reason.customer_asked`; empty values are None."""
    period = (report.since.isoformat(), report.until.isoformat(), report.by or "")
    for group, kpis in ((ALL, report.total), *report.groups.items()):
        for name, value in _flatten(kpis.figures()):
            yield (*period, group, name, _cell(value))


def _flatten(figures: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for name, value in figures.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(round(value, 6))
    return str(value)


def kpis_csv(report: KpiReport) -> str:
    """The report as CSV text (header `since,until,by,group,kpi,value`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    writer.writerows(kpi_rows(report))
    return out.getvalue()


# Traffic: what the dashboard watches during an incident.


@dataclass(frozen=True, slots=True)
class Traffic:
    """Customer messages per time bucket, by channel, with escalations per bucket and the top topics."""

    since: dt.datetime
    step: dt.timedelta
    buckets: list[dt.datetime]  # the start of each bucket
    messages: dict[str, list[int]]  # channel -> messages per bucket
    escalations: list[int]
    topics: list[tuple[str, int]]  # the busiest topics over the whole window, busiest first

    def as_json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "step_s": self.step.total_seconds(),
            "buckets": [bucket.isoformat() for bucket in self.buckets],
            "messages": self.messages,
            "escalations": self.escalations,
            "topics": [{"topic": topic, "messages": count} for topic, count in self.topics],
        }


def traffic(
    engine: sa.Engine, *, until: dt.datetime, hours: float, step: dt.timedelta = dt.timedelta(minutes=5), top: int = 8
) -> Traffic:
    """Messages per `step` by channel, escalations per `step` and the `top` topics over the `hours` before
    `until` (buckets are aligned to multiples of `step` since the epoch, so they stay put between refreshes)."""
    if hours <= 0 or step <= dt.timedelta(0) or top < 0:
        msg = f"need hours > 0, a positive step and top >= 0, got {hours}, {step}, {top}"
        raise ValueError(msg)
    until = utc(until)
    width = step.total_seconds()
    first = math.floor((until - dt.timedelta(hours=hours)).timestamp() / width) * width
    count = max(1, math.ceil((until.timestamp() - first) / width))
    since = dt.datetime.fromtimestamp(first, dt.UTC)
    messages: dict[str, list[int]] = defaultdict(lambda: [0] * count)
    escalations = [0] * count
    topics: dict[str, int] = defaultdict(int)
    with engine.connect() as conn:
        query = sa.select(ev.c.kind, _epoch(conn, ev.c.at), ev.c.channel, ev.c.topic).where(
            _kind("message_in", "escalation"), ev.c.at >= since, ev.c.at < until
        )
        for kind, at, channel, topic in conn.execute(query):
            index = min(count - 1, max(0, math.floor((round(at, 3) - first) / width)))
            if kind == "escalation":
                escalations[index] += 1
                continue
            messages[channel or "unknown"][index] += 1
            if topic:
                topics[topic] += 1
    busiest = sorted(topics.items(), key=lambda item: (-item[1], item[0]))[:top]
    buckets = [since + step * i for i in range(count)]
    return Traffic(since, step, buckets, dict(sorted(messages.items())), escalations, busiest)
