"""The emerging-issue monitor in the service: it tails the interaction log's customer messages, writes their
topics back, opens an alert (with its webhook delivery) when a topic surges, rebuilds its baselines from the
log after a restart, answers which proactive notice applies, and runs in one process at a time."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from analytics import EventKind, InteractionEvent, InteractionLog
from analytics.alerts import AlertStore
from analytics.emerging import EmergingIssueDetector
from analytics.topics import TopicGrouper
from frontdesk import db
from frontdesk.emerging import EmergingMonitor

START = dt.datetime(2026, 11, 2, 0, 0, tzinfo=dt.UTC)  # a Monday
TOPICS = {"card": "my card payment did not go through", "refund": "when do I get my refund", "store": "store hours"}
RATES = {"card": 40, "refund": 25, "store": 25}  # messages an hour


class KeywordTopics:
    """Places a message on the topic whose key word it contains (the intent classifier's role)."""

    def assign(self, texts: Sequence[str]) -> list[str | None]:
        return [next((topic for topic in TOPICS if topic in text), None) for text in texts]


def _no_encoding(texts: Sequence[str]) -> np.ndarray:
    raise AssertionError(f"every message is placed, nothing should be encoded: {texts}")


def _traffic(log: InteractionLog, *, hours: int, seed: int = 1) -> dt.datetime:
    rng = random.Random(seed)
    arrivals = sorted(
        (START + dt.timedelta(hours=hour, seconds=rng.uniform(0, 3600)), topic)
        for hour in range(hours)
        for topic, rate in RATES.items()
        for _ in range(rate)
    )
    for n, (at, topic) in enumerate(arrivals):  # logged as they arrive
        log.record(_message(f"c{n}", at, f"{TOPICS[topic]} ({n})", customer=f"k{n}"))
    log.flush()
    return START + dt.timedelta(hours=hours)


def _message(
    conversation: str, at: dt.datetime, text: str, *, customer: str, channel: str = "webchat"
) -> InteractionEvent:
    return InteractionEvent(
        kind=EventKind.MESSAGE_IN, conversation_id=conversation, at=at, channel=channel, customer=customer, text=text
    )


def _card_payments_fail(log: InteractionLog, start: dt.datetime) -> None:
    """Ten times the card topic's usual rate for ten minutes, on two channels."""
    for i in range(60):
        at = start + dt.timedelta(seconds=10 * i)
        channel = "whatsapp" if i % 3 else "webchat"
        log.record(_message(f"s{i}", at, f"card declined again ({i})", customer=f"s{i}", channel=channel))
    log.flush()


def _monitor(engine: sa.Engine, alerts: AlertStore, tmp_path: Path) -> EmergingMonitor:
    grouper = TopicGrouper(KeywordTopics(), encode=_no_encoding)
    return EmergingMonitor(
        engine,
        grouper,
        EmergingIssueDetector(label=grouper.label),
        alerts,
        batch_size=100_000,
        lock_file=tmp_path / "lock",
        lookback=dt.timedelta(days=3),  # the test's history is handled as if it had just arrived
    )


@pytest.fixture
def engine(tmp_path: Path) -> sa.Engine:
    eng = db.create_engine(f"sqlite:///{tmp_path / 'frontdesk.db'}")
    db.upgrade(eng)
    return eng


def test_a_surge_in_the_log_opens_an_alert_with_its_webhook_and_topics_are_written_back(
    engine: sa.Engine, tmp_path: Path
) -> None:
    log = InteractionLog(engine)
    end = _traffic(log, hours=48)
    alerts = AlertStore(engine, webhook_urls=("http://127.0.0.1:9/hook",), clock=lambda: end)
    monitor = _monitor(engine, alerts, tmp_path)
    quiet = monitor.step(end)
    assert alerts.list_alerts() == [], f"ordinary traffic raises nothing: {quiet}"
    topics = {event.topic for event in log.events(kinds=[EventKind.MESSAGE_IN])}
    assert topics == {"card", "refund", "store"}, "every message's topic is written back to the log"

    _card_payments_fail(log, end)
    surges = monitor.step(end + dt.timedelta(minutes=10))
    assert [s.topic for s in surges if not s.ended][:1] == ["card"]
    [alert] = alerts.list_alerts()
    assert alert.topic == "card" and alert.status == "open" and alert.messages >= 20
    assert set(alert.channels) == {"whatsapp", "webchat"} and alert.examples
    assert alert.detected_at - end <= dt.timedelta(minutes=15), "caught within 15 minutes of its start"
    hooks = [d for d in alerts.deliveries(alert.id) if d.target == "webhook"]
    events = sorted(d.event for d in hooks)  # the test's clock stands still: creation times are all equal
    assert events.count("alert.opened") == 1 and set(events) <= {"alert.opened", "alert.updated"}
    assert all(d.destination == "http://127.0.0.1:9/hook" and d.status == "pending" for d in hooks)
    assert len(hooks) <= 4, "announced when it opens and when it doubles, not for every message"

    # A restarted monitor rebuilds its baselines from the topics in the log, without encoding anything.
    again = _monitor(engine, alerts, tmp_path)
    assert again.warm_up(end + dt.timedelta(minutes=10)) == len(log.events(kinds=[EventKind.MESSAGE_IN]))
    assert again.cursor == monitor.cursor

    # A supervisor switches on a notice: customers asking about card payments get it, others do not.
    alerts.set_notice(alert.id, "Card payments are failing; we are on it.", True)
    assert monitor.notice_for("is the card thing broken?") == (alert.id, "Card payments are failing; we are on it.")
    assert monitor.notice_for("what are your store hours") is None


def test_an_alert_the_database_refused_is_written_at_the_next_step(engine: sa.Engine, tmp_path: Path) -> None:
    log = InteractionLog(engine)
    end = _traffic(log, hours=48)
    alerts = AlertStore(engine, clock=lambda: end)
    monitor = _monitor(engine, alerts, tmp_path)
    monitor.step(end)
    _card_payments_fail(log, end)
    with engine.begin() as conn:  # the alerts table is out of reach for a while
        conn.exec_driver_sql("ALTER TABLE analytics_alerts RENAME TO analytics_alerts_away")
    with pytest.raises(sa.exc.OperationalError):
        monitor.step(end + dt.timedelta(minutes=10))
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE analytics_alerts_away RENAME TO analytics_alerts")
    assert alerts.list_alerts() == []
    assert monitor.step(end + dt.timedelta(minutes=11)) == [], "the detector reported the surge once, before"
    [alert] = alerts.list_alerts()
    assert alert.topic == "card" and alert.status == "open" and alert.messages >= 20


def test_no_notice_costs_no_classification(engine: sa.Engine, tmp_path: Path) -> None:
    class Counting(KeywordTopics):
        calls = 0

        def assign(self, texts: Sequence[str]) -> list[str | None]:
            Counting.calls += 1
            return super().assign(texts)

    grouper = TopicGrouper(Counting(), encode=_no_encoding)
    monitor = EmergingMonitor(engine, grouper, EmergingIssueDetector(), AlertStore(engine))
    assert monitor.notice_for("card declined") is None and Counting.calls == 0


def test_one_monitor_at_a_time(engine: sa.Engine, tmp_path: Path) -> None:
    first, second = _monitor(engine, AlertStore(engine), tmp_path), _monitor(engine, AlertStore(engine), tmp_path)
    with first._leadership() as leading:
        assert leading
        with second._leadership() as other:
            assert not other, "the lock is held"
    with second._leadership() as other:
        assert other, "free again once the first stopped"


def test_one_monitor_at_a_time_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    engines = [db.create_engine(postgres_url), db.create_engine(postgres_url)]
    db.upgrade(engines[0])
    first, second = (_monitor(e, AlertStore(e), tmp_path / str(i)) for i, e in enumerate(engines))
    with first._leadership() as leading:
        assert leading
        with second._leadership() as other:
            assert not other, "the advisory lock is held by the other connection"
    with second._leadership() as other:
        assert other
    for e in engines:
        e.dispose()
