"""Alerts from surges: opened once per topic, updated only when the surge grew meaningfully, resolved when it
ends or by a supervisor; every announcement enqueues its deliveries; proactive web-chat notices."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from analytics.alerts import (
    OPENED,
    RESOLVED,
    UPDATED,
    AlertChange,
    AlertConflictError,
    AlertNotFoundError,
    AlertStore,
)
from analytics.surges import Surge
from analytics.tables import alerts_table, deliveries_table
from frontdesk import db

T0 = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
HOOKS = ("https://hooks.example/a", "https://hooks.example/b")
EMAILS = ("lead@support.example",)


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now

    def tick(self, minutes: float = 1) -> None:
        self.now += dt.timedelta(minutes=minutes)


def clear(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.delete(deliveries_table))
        conn.execute(sa.delete(alerts_table))


@pytest.fixture
def db_engine(engine: sa.Engine) -> Iterator[sa.Engine]:
    """The migrated engine (SQLite and PostgreSQL) with empty alert tables."""
    clear(engine)
    yield engine
    clear(engine)


def surge(topic: str = "payment_failed", messages: int = 10, **changes: object) -> Surge:
    base = Surge(
        topic=topic,
        label="Card payments fail at checkout",
        started_at=T0 - dt.timedelta(minutes=30),
        detected_at=T0,
        messages=messages,
        customers=max(1, messages // 2),
        expected=2.5,
        channels={"webchat": messages},
        examples=("my card was declined twice", "checkout says payment failed"),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_an_alert_opens_updates_when_it_doubles_and_resolves(db_engine: sa.Engine) -> None:
    clock = Clock()
    seen: list[AlertChange] = []
    store = AlertStore(db_engine, webhook_urls=HOOKS, emails=EMAILS, clock=clock, on_change=seen.append)
    opened = store.apply(surge(messages=10))
    assert opened is not None and opened.event == OPENED and len(opened.deliveries) == 3
    alert = opened.alert
    assert (alert.status, alert.messages, alert.customers, alert.expected) == ("open", 10, 5, 2.5)
    assert alert.started_at == T0 - dt.timedelta(minutes=30) and alert.channels == {"webchat": 10}
    assert alert.examples[0] == "my card was declined twice" and not alert.notice_active
    sent = [d for d in store.deliveries(alert.id) if d.target != "dashboard"]
    assert {(d.target, d.destination, d.status, d.attempts) for d in sent} == {
        ("webhook", HOOKS[0], "pending", 0),
        ("webhook", HOOKS[1], "pending", 0),
        ("email", EMAILS[0], "pending", 0),
    }
    assert {d.id for d in sent} == set(opened.deliveries) and all(d.payload["id"] == d.id for d in sent)
    assert sent[0].payload["alert"]["topic"] == "payment_failed" and "notice" not in sent[0].payload["alert"]

    clock.tick()
    assert store.apply(surge(messages=15)) is None, "half as many again is not worth a message"
    assert store.get(alert.id).messages == 15, "the figures stay current all the same"
    clock.tick()
    grown = store.apply(surge(messages=20, detected_at=T0 + dt.timedelta(minutes=2)))
    assert grown is not None and grown.event == UPDATED and grown.alert.id == alert.id
    assert grown.alert.detected_at == T0, "the alert keeps the time it was first detected"
    clock.tick()
    wider = store.apply(surge(messages=21, channels={"webchat": 15, "whatsapp": 6}))
    assert wider is not None and wider.event == UPDATED, "a new channel is news"
    clock.tick()
    ended = store.apply(surge(messages=22, ended=True, detected_at=T0 + dt.timedelta(hours=1)))
    assert ended is not None and ended.event == RESOLVED
    assert ended.alert.status == "resolved" and ended.alert.resolved_at == T0 + dt.timedelta(hours=1)
    assert store.apply(surge(messages=22, ended=True)) is None, "nothing left to resolve"
    assert [c.event for c in seen] == [OPENED, UPDATED, UPDATED, RESOLVED]
    events = [d.event for d in store.deliveries(alert.id) if d.target == "webhook"]
    assert events.count(OPENED) == events.count(UPDATED) / 2 == events.count(RESOLVED) == 2


def test_a_slowly_growing_surge_does_not_spam(db_engine: sa.Engine) -> None:
    clock = Clock()
    store = AlertStore(db_engine, webhook_urls=HOOKS[:1], clock=clock)
    changes = []
    for messages in range(10, 41):
        clock.tick()
        change = store.apply(surge(messages=messages))
        if change is not None:
            changes.append((change.event, change.alert.messages))
    assert changes == [(OPENED, 10), (UPDATED, 20), (UPDATED, 40)]
    with db_engine.connect() as conn:
        webhooks = conn.execute(
            sa.select(sa.func.count()).select_from(deliveries_table).where(deliveries_table.c.target == "webhook")
        ).scalar_one()
    assert webhooks == 3


def test_one_open_alert_per_topic_listed_open_first(db_engine: sa.Engine) -> None:
    clock = Clock()
    store = AlertStore(db_engine, clock=clock)
    first = store.apply(surge("payment_failed"))
    clock.tick()
    second = store.apply(surge("login_broken", detected_at=T0 + dt.timedelta(minutes=5)))
    clock.tick()
    third = store.apply(surge("shipping_delay", detected_at=T0 + dt.timedelta(minutes=9)))
    assert first and second and third and len({first.alert.id, second.alert.id, third.alert.id}) == 3
    assert first.deliveries == (), "no destinations configured: nothing to send, the dashboard still shows it"
    store.resolve(third.alert.id)
    assert [a.topic for a in store.list_alerts()] == ["login_broken", "payment_failed", "shipping_delay"]
    assert [a.topic for a in store.list_alerts(status="resolved")] == ["shipping_delay"]
    assert store.apply(surge("payment_failed", messages=11)) is None
    assert len(store.list_alerts(status="open")) == 2


def test_two_processes_applying_the_same_surge_open_one_alert(db_engine: sa.Engine) -> None:
    url = db_engine.url.render_as_string(hide_password=False)
    engines = [db.create_engine(url) for _ in range(4)]
    barrier = threading.Barrier(len(engines))
    results: list[AlertChange | None] = []

    def apply(engine: sa.Engine) -> None:
        store = AlertStore(engine, webhook_urls=HOOKS[:1])
        barrier.wait()
        results.append(store.apply(surge()))

    threads = [threading.Thread(target=apply, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for engine in engines:
        engine.dispose()
    assert sum(result is not None for result in results) == 1
    store = AlertStore(db_engine)
    assert len(store.list_alerts()) == 1
    assert [d.target for d in store.deliveries(store.list_alerts()[0].id)].count("webhook") == 1


def test_a_supervisor_resolves_and_the_same_surge_does_not_reopen_it(db_engine: sa.Engine) -> None:
    clock = Clock()
    store = AlertStore(db_engine, emails=EMAILS, clock=clock)
    opened = store.apply(surge(messages=10))
    assert opened is not None
    store.set_notice(opened.alert.id, "Card payments are failing; we are on it.", True)
    clock.tick(5)
    resolved = store.resolve(opened.alert.id)
    assert resolved.event == RESOLVED and resolved.alert.resolved_at == clock.now and len(resolved.deliveries) == 1
    assert not resolved.alert.notice_active and store.active_notices() == {}
    with pytest.raises(AlertConflictError, match="resolved already"):
        store.resolve(opened.alert.id)
    clock.tick()
    assert store.apply(surge(messages=14)) is None, "the detector still reports the surge the supervisor closed"
    reopened = store.apply(surge(messages=20))
    assert reopened is not None and reopened.event == OPENED and reopened.alert.id != opened.alert.id
    store.resolve(reopened.alert.id)
    clock.tick()
    later = surge(messages=5, started_at=clock.now, detected_at=clock.now)
    fresh = store.apply(later)
    assert fresh is not None and fresh.event == OPENED, "a rise that began after the resolution is a new alert"
    with pytest.raises(AlertNotFoundError):
        store.resolve("no-such-alert")


def test_notices_for_the_web_chat(db_engine: sa.Engine) -> None:
    store = AlertStore(db_engine)
    payments = store.apply(surge("payment_failed"))
    logins = store.apply(surge("login_broken"))
    assert payments and logins
    with pytest.raises(ValueError, match="needs a text"):
        store.set_notice(payments.alert.id, "   ", True)
    with pytest.raises(ValueError, match="at most 500"):
        store.set_notice(payments.alert.id, "x" * 501, True)
    on = store.set_notice(payments.alert.id, "  Card payments are failing;\n we are fixing it. ", True)
    assert on.notice == "Card payments are failing; we are fixing it." and on.notice_active
    store.set_notice(logins.alert.id, "Sign-in is slow right now.", True)
    assert store.active_notices() == {
        "payment_failed": "Card payments are failing; we are fixing it.",
        "login_broken": "Sign-in is slow right now.",
    }
    off = store.set_notice(logins.alert.id, None, False)
    assert not off.notice_active and off.notice == "Sign-in is slow right now.", "switching off keeps the text"
    assert store.get(logins.alert.id).notice == "Sign-in is slow right now."
    assert store.active_notices() == {"payment_failed": "Card payments are failing; we are fixing it."}
    store.apply(surge("payment_failed", ended=True))
    assert store.active_notices() == {}, "a resolved alert's notice goes off"
    with pytest.raises(AlertConflictError, match="open alert"):
        store.set_notice(payments.alert.id, "again", True)
    with pytest.raises(AlertNotFoundError):
        store.set_notice("missing", "text", True)


def test_destinations_are_validated(db_engine: sa.Engine) -> None:
    with pytest.raises(ValueError, match="ftp://x"):
        AlertStore(db_engine, webhook_urls=["ftp://x"])
    with pytest.raises(ValueError, match="not-an-address"):
        AlertStore(db_engine, emails=["not-an-address"])
