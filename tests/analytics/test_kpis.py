"""The KPIs from hand-built interaction events, on SQLite and PostgreSQL: each figure checked against the value
worked out by hand from the events below."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from analytics import EventKind, InteractionEvent, InteractionLog
from analytics.kpis import Duration, compute_kpis, kpis_csv, percentile, traffic
from analytics.tables import events_table

SINCE = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
UNTIL = dt.datetime(2026, 3, 3, tzinfo=dt.UTC)


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, second, tzinfo=dt.UTC)


def event(kind: EventKind, conversation: str, when: dt.datetime, **fields: Any) -> InteractionEvent:
    return InteractionEvent(kind=kind, conversation_id=conversation, at=when, **fields)


K = EventKind
# c1: web chat, answered by the assistant, resolved, rated 3 then 5 (the last rating counts).
# c2: WhatsApp at 23:50, answered, escalated, assigned, resolved by a person after midnight; customer B
#     comes back the next morning (c4), so it is not a first-contact resolution.
# c3: web chat, escalated without an answer, a person replies first, never resolved, rated 4.
# c4: WhatsApp, customer B again, answered (no skill), never escalated: contained.
# c6: e-mail, no customer key, never answered.
# c0 (before the period) and c5 (after it) are not counted.
EVENTS = [
    event(K.MESSAGE_IN, "c0", at(1, 0) - dt.timedelta(hours=1), channel="webchat", customer="D"),
    event(K.ANSWER, "c0", at(1, 0) - dt.timedelta(minutes=59), latency_ms=9000.0),
    event(K.MESSAGE_IN, "c6", at(1, 8), channel="email"),
    event(K.MESSAGE_IN, "c1", at(1, 10), channel="webchat", customer="A", topic="refunds"),
    event(K.RETRIEVAL, "c1", at(1, 10, 0, 1), channel="webchat", confidence=0.8),
    event(K.ANSWER, "c1", at(1, 10, 0, 2), channel="webchat", skill="billing", intent="refund", latency_ms=1000.0),
    event(K.MESSAGE_IN, "c1", at(1, 10, 1), channel="webchat", customer="A"),
    event(K.ANSWER, "c1", at(1, 10, 1, 3), channel="webchat", skill="billing", latency_ms=None),
    event(K.RESOLUTION, "c1", at(1, 10, 5), reason="answered", data={"by": "assistant"}),
    event(K.RATING, "c1", at(1, 10, 6), value=3.0),
    event(K.RATING, "c1", at(1, 10, 7), value=5.0),
    event(K.MESSAGE_IN, "c2", at(1, 23, 50), channel="whatsapp", customer="B"),
    event(K.ANSWER, "c2", at(1, 23, 50, 10), channel="whatsapp", skill="billing", latency_ms=3000.0),
    event(K.ESCALATION, "c2", at(1, 23, 51), reason="customer_asked", intent="refund", skill="payments"),
    event(K.ASSIGNMENT, "c2", at(1, 23, 55), actor="ana", skill="payments", data={"waited_s": 240.0}),
    event(K.HUMAN_REPLY, "c2", at(1, 23, 56), actor="ana"),
    event(K.RESOLUTION, "c2", at(2, 0, 20), actor="ana", data={"by": "human"}),
    event(K.RATING, "c2", at(2, 0, 21), value=2.0),
    event(K.MESSAGE_IN, "c4", at(2, 9), channel="whatsapp", customer="B"),
    event(K.ANSWER, "c4", at(2, 9, 0, 4), channel="whatsapp", latency_ms=2000.0),
    event(K.DELIVERY, "c4", at(2, 9, 0, 5), channel="whatsapp", reason="delivered"),
    event(K.MESSAGE_IN, "c3", at(2, 12), channel="webchat", customer="C", topic="shipping"),
    event(K.ESCALATION, "c3", at(2, 12, 0, 5), reason="not_grounded", intent="shipping", skill="logistics"),
    event(K.ASSIGNMENT, "c3", at(2, 12, 20), actor="ben", skill="logistics"),
    event(K.HUMAN_REPLY, "c3", at(2, 12, 30), actor="ben"),
    event(K.RATING, "c3", at(2, 12, 40), value=4.0),
    event(K.MESSAGE_IN, "c5", UNTIL, channel="webchat", customer="F"),
]


@pytest.fixture
def log(engine: sa.Engine) -> Iterator[InteractionLog]:
    """The interaction log on the test's database, emptied afterwards (the PostgreSQL one is shared)."""
    interaction_log = InteractionLog(engine)
    yield interaction_log
    with engine.begin() as conn:
        conn.execute(sa.delete(events_table))


@pytest.fixture
def seeded(log: InteractionLog) -> sa.Engine:
    for item in EVENTS:
        log.record(item)
    assert log.flush() == len(EVENTS)
    return log.engine


def test_no_events_gives_zero_conversations_and_no_rates(log: InteractionLog) -> None:
    report = compute_kpis(log.engine, since=SINCE, until=UNTIL, by="day")
    assert report.groups == {}
    total = report.total
    assert (total.conversations, total.contained, total.escalated, total.ratings, total.answers) == (0, 0, 0, 0, 0)
    assert total.containment_rate is None and total.escalation_rate is None and total.fcr_rate is None
    assert total.csat is None and total.rating_mean is None
    assert total.latency_p50_ms is None and total.latency_p95_ms is None
    assert total.first_response_s == Duration(0, None, None)


def test_totals_match_the_hand_worked_figures(seeded: sa.Engine) -> None:
    total = compute_kpis(seeded, since=SINCE, until=UNTIL).total
    assert total.conversations == 5  # c1, c2, c3, c4, c6
    assert (total.answered, total.contained, total.containment_rate) == (3, 2, 0.4)  # c1, c4 contained
    assert (total.escalated, total.escalation_rate) == (2, 0.4)
    assert total.escalations_by_reason == {"customer_asked": 1, "not_grounded": 1}
    assert total.escalations_by_intent == {"refund": 1, "shipping": 1}
    assert total.resolved == 2  # c1, c2
    assert (total.first_contact_resolved, total.fcr_rate) == (2, 0.4)  # c1 and c4; B came back after c2
    # first responses: c1 2 s, c2 10 s, c3 30 min (a person's reply), c4 4 s
    assert total.first_response_s == Duration(4, (2 + 10 + 1800 + 4) / 4, 7.0)
    assert total.resolution_s == Duration(2, (300 + 1800) / 2, 1050.0)  # c1 5 min, c2 30 min over midnight
    assert total.handle_s == Duration(1, 1500.0, 1500.0)  # c2: assigned 23:55, resolved 00:20
    assert (total.ratings, total.csat, total.rating_mean) == (3, 2 / 3, 11 / 3)  # 5 (c1's last), 2, 4
    assert (total.answers, total.latency_p50_ms, total.latency_p95_ms) == (3, 2000.0, 2900.0)


def test_by_day_counts_a_conversation_once_on_the_day_it_started(seeded: sa.Engine) -> None:
    report = compute_kpis(seeded, since=SINCE, until=UNTIL, by="day")
    assert list(report.groups) == ["2026-03-01", "2026-03-02"]
    first, second = report.groups["2026-03-01"], report.groups["2026-03-02"]
    assert (first.conversations, second.conversations) == (3, 2)  # c6, c1, c2 | c4, c3
    assert first.resolution_s == Duration(2, 1050.0, 1050.0)  # c2's resolution after midnight stays on day 1
    assert first.escalations_by_reason == {"customer_asked": 1}
    assert second.escalations_by_reason == {"not_grounded": 1}
    assert (second.contained, second.first_contact_resolved) == (1, 1)
    assert (first.latency_p50_ms, second.latency_p50_ms) == (2000.0, 2000.0)


def test_by_channel_and_by_skill(seeded: sa.Engine) -> None:
    channels = compute_kpis(seeded, since=SINCE, until=UNTIL, by="channel").groups
    assert {key: kpis.conversations for key, kpis in channels.items()} == {"email": 1, "webchat": 2, "whatsapp": 2}
    assert channels["whatsapp"].containment_rate == 0.5
    assert channels["webchat"].csat == 1.0  # 5 and 4
    assert channels["email"].first_response_s.count == 0
    skills = compute_kpis(seeded, since=SINCE, until=UNTIL, by="skill").groups
    # c2 was answered under billing but escalated to payments: the escalation's skill counts
    assert {key: kpis.conversations for key, kpis in skills.items()} == {
        "billing": 1,
        "logistics": 1,
        "none": 2,
        "payments": 1,
    }
    assert skills["payments"].handle_s.mean == 1500.0


def test_a_customer_message_in_the_period_counts_an_older_conversation_from_that_message(log: InteractionLog) -> None:
    log.record(event(K.MESSAGE_IN, "old", SINCE - dt.timedelta(days=1), channel="sms", customer="E"))
    log.record(event(K.ESCALATION, "old", SINCE - dt.timedelta(hours=23), reason="frustration"))
    log.record(event(K.MESSAGE_IN, "old", at(1, 9), channel="sms", customer="E"))
    log.record(event(K.ANSWER, "old", at(1, 9, 0, 30), latency_ms=500.0))
    log.flush()
    total = compute_kpis(log.engine, since=SINCE, until=UNTIL).total
    assert (total.conversations, total.contained, total.escalated) == (1, 1, 0)
    assert total.first_response_s == Duration(1, 30.0, 30.0)


def test_the_return_window_decides_first_contact_resolution(seeded: sa.Engine) -> None:
    # c4 starts 8 h 40 min after c2's resolution: inside a 9 h window, outside an 8 h one
    assert compute_kpis(seeded, since=SINCE, until=UNTIL, return_window=dt.timedelta(hours=9)).total.fcr_rate == 0.4
    narrow = compute_kpis(seeded, since=SINCE, until=UNTIL, return_window=dt.timedelta(hours=8)).total
    assert narrow.first_contact_resolved == 3


def test_a_customer_coming_back_after_the_period_still_undoes_first_contact_resolution(log: InteractionLog) -> None:
    log.record(event(K.MESSAGE_IN, "first", at(2, 22), channel="webchat", customer="G"))
    log.record(event(K.ANSWER, "first", at(2, 22, 0, 5), latency_ms=700.0))
    log.record(event(K.RESOLUTION, "first", at(2, 22, 10), data={"by": "assistant"}))
    log.flush()
    assert compute_kpis(log.engine, since=SINCE, until=UNTIL).total.first_contact_resolved == 1
    log.record(event(K.MESSAGE_IN, "again", UNTIL + dt.timedelta(days=6), channel="sms", customer="G"))
    log.flush()
    total = compute_kpis(log.engine, since=SINCE, until=UNTIL).total
    assert (total.conversations, total.contained, total.first_contact_resolved) == (1, 1, 0)


def test_bad_periods_and_breakdowns_are_refused(log: InteractionLog) -> None:
    with pytest.raises(ValueError, match="must be before until"):
        compute_kpis(log.engine, since=UNTIL, until=SINCE)
    with pytest.raises(ValueError, match="unknown breakdown 'week'"):
        compute_kpis(log.engine, since=SINCE, until=UNTIL, by="week")  # type: ignore[arg-type]


def test_csv_has_one_row_per_group_and_kpi(seeded: sa.Engine) -> None:
    report = compute_kpis(seeded, since=SINCE, until=UNTIL, by="channel")
    rows = list(csv.DictReader(io.StringIO(kpis_csv(report))))
    assert list(rows[0]) == ["since", "until", "by", "group", "kpi", "value"]
    cell = {(row["group"], row["kpi"]): row["value"] for row in rows}
    assert cell["all", "conversations"] == "5"
    assert cell["all", "containment_rate"] == "0.4"
    assert cell["all", "escalations_by_reason.customer_asked"] == "1"
    assert cell["all", "first_response_s.median"] == "7.0"
    assert cell["all", "csat"] == "0.666667"
    assert cell["email", "latency_p50_ms"] == ""  # nothing to measure
    assert cell["whatsapp", "handle_s.mean"] == "1500.0"
    assert {row["group"] for row in rows} == {"all", "email", "webchat", "whatsapp"}
    assert {row["by"] for row in rows} == {"channel"}
    kpis_per_group = len([row for row in rows if row["group"] == "all"])
    assert len([row for row in rows if row["group"] == "email"]) == kpis_per_group - 4  # no reasons, no intents


def test_traffic_counts_messages_per_bucket_and_channel(seeded: sa.Engine) -> None:
    until = at(2, 12, 7)  # two hours back: 10:07, aligned down to 10:05
    seen = traffic(seeded, until=until, hours=2, step=dt.timedelta(minutes=5), top=3)
    assert seen.buckets[0] == at(2, 10, 5) and seen.buckets[-1] == at(2, 12, 5) and len(seen.buckets) == 25
    assert seen.messages == {"webchat": [0] * 23 + [1, 0]}  # c3 at 12:00
    assert seen.escalations == [0] * 23 + [1, 0]
    assert seen.topics == [("shipping", 1)]
    day = traffic(seeded, until=UNTIL, hours=48, step=dt.timedelta(hours=6))
    assert sum(day.messages["whatsapp"]) == 2 and sum(day.messages["webchat"]) == 3
    assert day.topics == [("refunds", 1), ("shipping", 1)]
    with pytest.raises(ValueError, match="hours > 0"):
        traffic(seeded, until=UNTIL, hours=0)


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([], 50) is None
    assert percentile([7.0], 95) == 7.0
    assert percentile([100.0, 200.0, 300.0, 400.0, 500.0], 50) == 300.0
    assert percentile([100.0, 200.0, 300.0, 400.0, 500.0], 95) == pytest.approx(480.0)
