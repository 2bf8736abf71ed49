"""Delivery statuses in the outbox: each transition recorded once, never backwards, whatever the replays, the
late callbacks or the number of workers receiving the same callback at once."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from channels.base import CollectingChannel
from channels.messages import Delivery, OutboundMessage
from conversations.outbox import Outbox, OutboxEntry, OutboxWorker, StatusChange
from conversations.store import ConversationStore
from frontdesk import db

SID = "SM" + "a" * 32


class SidChannel(CollectingChannel):
    """Collects, and answers each delivery with Twilio-like message ids."""

    def __init__(self, *sids: str) -> None:
        super().__init__()
        self.sids = sids

    async def send(self, message: OutboundMessage) -> Delivery:
        await super().send(message)
        return Delivery(provider_message_ids=self.sids)


async def _sent(engine: sa.Engine, *sids: str) -> tuple[Outbox, OutboxEntry]:
    """An outbox with one reply in conversation c-1, delivered as the provider messages `sids`."""
    ConversationStore(engine).get_or_create("c-1", channel="collect", customer_ref="+15550001111")
    outbox = Outbox(engine)
    outbox.enqueue(
        OutboundMessage(message_id="m-1", conversation_id="c-1", channel="collect", recipient="+15550001111", text="Hi")
    )
    assert await OutboxWorker(outbox, {"collect": SidChannel(*(sids or (SID,)))}).deliver_due() == 1
    [entry] = outbox.entries()
    return outbox, entry


def _notes(engine: sa.Engine) -> list[str]:
    return [m.text for m in ConversationStore(engine).messages("c-1") if m.role == "system"]


def _status(outbox: Outbox, sid: str = SID) -> str:
    return next(str(row["status"]) for row in outbox.statuses("c-1") if row["provider_message_id"] == sid)


async def test_a_replayed_failure_adds_one_note(engine: sa.Engine) -> None:
    outbox, entry = await _sent(engine)
    first = outbox.record_status("collect", SID, "failed", error_code="30008")
    assert first == StatusChange(entry=first.entry, status="failed", recorded=True) and first.entry.id == entry.id
    for _ in range(3):
        again = outbox.record_status("collect", SID, "failed", error_code="30008")
        assert again is not None and not again.recorded and again.status == "failed"
    assert outbox.record_status("collect", SID, "undelivered", error_code="30005") == StatusChange(
        entry=first.entry, status="failed", recorded=False
    ), "a failure is final: a second kind of failure is not recorded over it"
    assert _notes(engine) == ["A reply was not delivered on collect (failed, error 30008)."]
    assert _status(outbox) == "failed"


async def test_late_callbacks_never_move_a_status_backwards(engine: sa.Engine) -> None:
    outbox, _ = await _sent(engine)
    steps = [("sent", True), ("delivered", True), ("sent", False), ("queued", False), ("read", True)]
    for status, recorded in steps:
        change = outbox.record_status("collect", SID, status)
        assert change is not None and change.recorded is recorded, status
    assert _status(outbox) == "read"
    assert outbox.record_status("collect", SID, "delivered") is not None
    assert _status(outbox) == "read"


async def test_delivered_after_failed_stays_failed(engine: sa.Engine) -> None:
    outbox, _ = await _sent(engine)
    assert outbox.record_status("collect", SID, "failed", error_code="63016") is not None
    change = outbox.record_status("collect", SID, "delivered")
    assert change is not None and not change.recorded and change.status == "failed"
    assert _status(outbox) == "failed" and len(_notes(engine)) == 1


async def test_a_message_this_service_did_not_send_and_an_unknown_status(engine: sa.Engine) -> None:
    outbox, _ = await _sent(engine)
    assert outbox.record_status("collect", "SM" + "f" * 32, "failed") is None
    with pytest.raises(ValueError, match="'lost'"):
        outbox.record_status("collect", SID, "lost")
    assert _status(outbox) == "accepted" and _notes(engine) == []


async def test_the_template_of_a_reply_is_claimed_once(engine: sa.Engine) -> None:
    outbox, entry = await _sent(engine, SID, "SM" + "b" * 32)
    assert outbox.claim_template(entry.id)
    assert not outbox.claim_template(entry.id), "its second part's failure must not send a second template"


def _race(engine: sa.Engine, workers: int, task: str) -> list[object]:
    """Run the same call from `workers` threads at once, each with an engine of its own (as separate
    workers have): the same status callback, or the same template claim."""
    url = engine.url.render_as_string(hide_password=False)
    engines = [db.create_engine(url) for _ in range(workers)]
    barrier = threading.Barrier(workers)
    results: list[object] = []
    errors: list[BaseException] = []

    def work(own: sa.Engine) -> None:
        outbox = Outbox(own)
        barrier.wait()
        try:
            if task == "status":
                results.append(outbox.record_status("collect", SID, "failed", error_code="63016"))
            else:
                results.append(outbox.claim_template(int(task)))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(own,)) for own in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    for own in engines:
        own.dispose()
    assert not errors, errors
    assert len(results) == workers
    return results


async def test_the_same_failure_reaching_several_workers_at_once_is_recorded_once(engine: sa.Engine) -> None:
    outbox, entry = await _sent(engine)
    changes = _race(engine, 6, "status")
    recorded = [c for c in changes if isinstance(c, StatusChange) and c.recorded]
    assert len(recorded) == 1, changes
    assert all(isinstance(c, StatusChange) and c.status == "failed" for c in changes)
    assert len(_notes(engine)) == 1
    claims = _race(engine, 6, str(entry.id))
    assert claims.count(True) == 1 and claims.count(False) == 5
