"""The interaction log: queued without waiting, written in batches, kept while the database is down, read back,
erased per customer and purged after the retention period."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import anyio
import pytest
import sqlalchemy as sa

from analytics import EventKind, InteractionEvent, InteractionLog, customer_key
from frontdesk import db

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)


def _event(
    conversation: str, minutes: int, kind: EventKind = EventKind.MESSAGE_IN, **fields: object
) -> InteractionEvent:
    return InteractionEvent(kind=kind, conversation_id=conversation, at=T0 + dt.timedelta(minutes=minutes), **fields)  # type: ignore[arg-type]


def test_events_are_queued_then_written_in_batches_and_read_back(engine: sa.Engine) -> None:
    log = InteractionLog(engine, batch_size=3, max_pending=10)
    for minute in range(7):
        log.record(_event(f"c{minute % 2}", minute, channel="webchat", text=f"message {minute}", data={"n": minute}))
    assert log.pending == 7 and log.events() == [], "nothing is written until a flush"
    assert log.flush() == 7 and log.pending == 0
    stored = log.events()
    assert [e.text for e in stored] == [f"message {m}" for m in range(7)]
    assert stored[0].at == T0 and stored[0].at.tzinfo is not None and stored[3].data == {"n": 3}
    assert [e.conversation_id for e in log.events(conversation_id="c1")] == ["c1", "c1", "c1"]
    window = log.events(since=T0 + dt.timedelta(minutes=2), until=T0 + dt.timedelta(minutes=4))
    assert [e.text for e in window] == ["message 2", "message 3"]


def test_a_failed_write_keeps_the_events_for_the_next_flush(tmp_path: Path) -> None:
    engine = db.create_engine(f"sqlite:///{tmp_path / 'log.db'}")
    log = InteractionLog(engine)
    log.record(_event("c1", 0, text="before the table exists"))
    with pytest.raises(sa.exc.OperationalError):
        log.flush()  # no migrations yet: the table is missing, like a database that is down
    assert log.pending == 1, "the event waits for the database"
    db.upgrade(engine)
    assert log.flush() == 1
    assert [e.text for e in log.events()] == ["before the table exists"]


def test_the_queue_is_bounded_and_counts_what_it_dropped(engine: sa.Engine) -> None:
    log = InteractionLog(engine, batch_size=2, max_pending=3)
    for minute in range(5):
        log.record(_event("c", minute, text=str(minute)))
    assert log.pending == 3 and log.dropped == 2
    log.flush()
    assert [e.text for e in log.events()] == ["2", "3", "4"], "the oldest go first"


def test_listeners_see_every_event_and_a_failing_one_breaks_nothing(engine: sa.Engine) -> None:
    log = InteractionLog(engine)
    seen: list[str] = []

    def broken(_event: InteractionEvent) -> None:
        raise RuntimeError("listener bug")

    log.subscribe(broken)
    log.subscribe(lambda event: seen.append(event.conversation_id))
    log.record(_event("c9", 0))
    assert seen == ["c9"] and log.pending == 1


def test_erase_removes_a_customers_events_written_and_queued(engine: sa.Engine) -> None:
    log = InteractionLog(engine)
    ana, bob = customer_key("+34600000001", secret="k"), customer_key("+34600000002", secret="k")
    log.record(_event("c1", 0, customer=ana))
    log.record(_event("c1", 1, kind=EventKind.ANSWER))  # no customer on the event, but her conversation
    log.record(_event("c2", 2, customer=bob))
    log.flush()
    log.record(_event("c3", 3, customer=ana))  # still queued
    removed = log.erase(conversation_ids=["c1"]) + log.erase(customer=ana)
    assert removed == 3
    log.flush()
    assert [e.conversation_id for e in log.events()] == ["c2"]


def test_purge_keeps_the_retention_period(engine: sa.Engine) -> None:
    log = InteractionLog(engine)
    for minute in (0, 60, 120):
        log.record(_event("c", minute))
    log.flush()
    assert log.purge(older_than=T0 + dt.timedelta(minutes=61)) == 2
    assert [e.at for e in log.events()] == [T0 + dt.timedelta(minutes=120)]


def test_customer_keys_are_stable_one_way_and_keyed() -> None:
    key = customer_key(" Ana@Example.com ", secret="s1")
    assert key == customer_key("ana@example.com", secret="s1")
    assert key != customer_key("ana@example.com", secret="s2")
    assert "ana" not in key and len(key) == 32


async def test_the_worker_flushes_in_the_background_and_on_the_way_out(engine: sa.Engine) -> None:
    log = InteractionLog(engine, flush_interval=0.05)
    async with anyio.create_task_group() as group:
        group.start_soon(log.run)
        log.record(_event("c", 0))
        with anyio.fail_after(5):
            while not log.events():
                await anyio.sleep(0.02)
        log.record(_event("c", 1))
        group.cancel_scope.cancel()
    assert len(log.events()) == 2, "the last events are written when the worker stops"


def test_bad_settings_are_refused(engine: sa.Engine) -> None:
    with pytest.raises(ValueError, match="max_pending >= batch_size"):
        InteractionLog(engine, batch_size=10, max_pending=5)
