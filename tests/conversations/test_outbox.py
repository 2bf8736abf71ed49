"""The outbox: stored replies delivered once, retried with backoff, failures kept and shown."""

from __future__ import annotations

import datetime as dt

import anyio
import sqlalchemy as sa

from channels.base import CollectingChannel
from channels.messages import Delivery, Link, OutboundMessage, ThreadKey
from conversations.intake import Intake
from conversations.outbox import FAILED, PENDING, SENT, Outbox, OutboxEntry, OutboxWorker, RetryPolicy, outbox_table
from conversations.store import ConversationStore

FAST = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, jitter=0.0)


def _message(conversation_id: str, key: str = "m-1", text: str = "Your order ships **today**.") -> OutboundMessage:
    return OutboundMessage(
        message_id=key,
        conversation_id=conversation_id,
        channel="collect",
        recipient="+15550001111",
        text=text,
        citations=(Link("Shipping", "https://example.test/shipping"),),
        references=("a", "b"),
        metadata={"reply_to": "support+x@example.test"},
    )


class ThreadingChannel(CollectingChannel):
    """Collects, and gives each delivery a thread key as e-mail does with its Message-ID."""

    async def send(self, message: OutboundMessage) -> Delivery:
        await super().send(message)
        return Delivery(provider_message_ids=(f"<{message.message_id}@x>",), thread_keys=(ThreadKey("msgid:1"),))


def _conversation(engine: sa.Engine, conversation_id: str = "c-1") -> str:
    ConversationStore(engine).get_or_create(conversation_id, channel="collect", customer_ref="+15550001111")
    return conversation_id


async def test_a_reply_is_delivered_once_with_its_content(engine: sa.Engine) -> None:
    outbox, channel = Outbox(engine), ThreadingChannel()
    conversation = _conversation(engine)
    assert outbox.enqueue(_message(conversation))
    assert not outbox.enqueue(_message(conversation)), "the same reply is enqueued once"
    worker = OutboxWorker(outbox, {"collect": channel}, retry=FAST)
    assert await worker.deliver_due() == 1
    assert await worker.deliver_due() == 0
    assert len(channel.sent) == 1
    sent = channel.sent[0]
    assert sent == _message(conversation), "the message survives the round trip through the database"
    [entry] = outbox.entries()
    assert entry.status == SENT and entry.provider_ids == ["<m-1@x>"] and entry.attempts == 1
    assert entry.sent_at is not None
    assert Intake(engine).keys(conversation) == ["msgid:1"], "the delivery's thread key is recorded"


async def test_a_provider_outage_is_retried_with_backoff_then_delivered(engine: sa.Engine) -> None:
    outbox, channel = Outbox(engine), CollectingChannel()
    channel.fail_next = 2
    conversation = _conversation(engine)
    outbox.enqueue(_message(conversation))
    worker = OutboxWorker(outbox, {"collect": channel}, retry=RetryPolicy(base_delay=0.2, jitter=0.0))
    await worker.deliver_due()
    [entry] = outbox.entries()
    assert entry.status == PENDING and entry.attempts == 1 and "refused" in (entry.last_error or "")
    assert entry.next_attempt_at > dt.datetime.now(dt.UTC), "the next attempt waits"
    assert await worker.deliver_due() == 0, "not due yet"
    due = outbox.next_due()
    assert due is not None and 0 < (due - dt.datetime.now(dt.UTC)).total_seconds() <= 0.25
    with engine.begin() as conn:
        conn.execute(sa.update(outbox_table).values(next_attempt_at=dt.datetime.now(dt.UTC)))
    await worker.deliver_due()
    [entry] = outbox.entries()
    assert entry.attempts == 2 and entry.status == PENDING
    retry_wait = (entry.next_attempt_at - dt.datetime.now(dt.UTC)).total_seconds()
    assert 0.2 < retry_wait <= 0.4, "the delay doubles"
    with engine.begin() as conn:
        conn.execute(sa.update(outbox_table).values(next_attempt_at=dt.datetime.now(dt.UTC)))
    await worker.deliver_due()
    assert [entry.status for entry in outbox.entries()] == [SENT]
    assert len(channel.sent) == 1


async def test_a_permanent_failure_is_kept_and_shown_on_the_conversation(engine: sa.Engine) -> None:
    outbox, channel = Outbox(engine), CollectingChannel()
    channel.fail_next, channel.fail_retryable = 1, False
    conversation = _conversation(engine)
    outbox.enqueue(_message(conversation))
    await OutboxWorker(outbox, {"collect": channel}, retry=FAST).deliver_due()
    [entry] = outbox.entries(status=FAILED)
    assert entry.attempts == 1 and "refused" in (entry.last_error or "")
    notes = [m for m in ConversationStore(engine).messages(conversation) if m.role == "system"]
    assert len(notes) == 1 and "could not be delivered on collect" in notes[0].text
    assert outbox.retry(entry.id) and not outbox.retry(entry.id)
    await OutboxWorker(outbox, {"collect": channel}, retry=FAST).deliver_due()
    assert outbox.entries()[0].status == SENT and len(channel.sent) == 1


async def test_attempts_are_bounded(engine: sa.Engine) -> None:
    outbox, channel = Outbox(engine), CollectingChannel()
    channel.fail_next = 100
    conversation = _conversation(engine)
    outbox.enqueue(_message(conversation))
    worker = OutboxWorker(outbox, {"collect": channel}, retry=FAST)
    for _ in range(FAST.max_attempts + 2):
        with engine.begin() as conn:
            conn.execute(sa.update(outbox_table).values(next_attempt_at=dt.datetime.now(dt.UTC)))
        await worker.deliver_due()
    [entry] = outbox.entries()
    assert entry.status == FAILED and entry.attempts == FAST.max_attempts
    assert channel.sent == []


async def test_a_send_interrupted_by_a_crash_is_not_repeated(engine: sa.Engine) -> None:
    """The worker died after the provider took the message but before it was marked sent."""
    outbox, channel = Outbox(engine, lease=dt.timedelta(seconds=30)), CollectingChannel()
    conversation = _conversation(engine)
    outbox.enqueue(_message(conversation, "m-1"))
    outbox.enqueue(_message(conversation, "m-2", "A second reply."))
    claimed = outbox.claim_due()
    assert [entry.message.message_id for entry, _ in claimed] == ["m-1", "m-2"]
    await channel.send(claimed[0][0].message)  # the provider took m-1; then the process died
    assert outbox.claim_due() == [], "claimed rows are not taken again while the lease holds"
    with engine.begin() as conn:
        conn.execute(sa.update(outbox_table).values(claimed_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    await OutboxWorker(outbox, {"collect": channel}, retry=FAST).deliver_due()
    assert [m.message_id for m in channel.sent] == ["m-1", "m-2"], "m-1 once, m-2 sent after the restart"
    assert {entry.status for entry in outbox.entries()} == {SENT}


async def test_an_unknown_channel_fails_visibly(engine: sa.Engine) -> None:
    outbox = Outbox(engine)
    conversation = _conversation(engine)
    outbox.enqueue(_message(conversation))
    await OutboxWorker(outbox, {}, retry=FAST).deliver_due()
    [entry] = outbox.entries()
    assert entry.status == FAILED and "no channel named 'collect'" in (entry.last_error or "")


async def test_a_wake_up_from_another_thread_is_not_lost(engine: sa.Engine) -> None:
    outbox, channel = Outbox(engine), CollectingChannel()
    conversation = _conversation(engine)
    worker = OutboxWorker(outbox, {"collect": channel}, retry=FAST, poll_interval=60.0)

    def enqueue_in_a_thread() -> None:  # as a route running in a worker thread does
        outbox.enqueue(_message(conversation))
        worker.notify()

    async with anyio.create_task_group() as group:
        group.start_soon(worker.run)
        await anyio.sleep(0.2)  # the worker is idle, waiting for a minute-long poll
        await anyio.to_thread.run_sync(enqueue_in_a_thread)
        with anyio.fail_after(5):
            while not channel.sent:
                await anyio.sleep(0.02)
        group.cancel_scope.cancel()
    assert len(channel.sent) == 1


class FlakyOutbox(Outbox):
    """An outbox whose database fails while the first delivery is being recorded."""

    failures = 1

    def mark_sent(self, entry: OutboxEntry, delivery: Delivery) -> None:
        if self.failures:
            self.failures -= 1
            raise sa.exc.OperationalError("UPDATE outbox", {}, Exception("the database went away"))
        super().mark_sent(entry, delivery)


async def test_a_database_failure_while_recording_neither_stops_the_worker_nor_resends(engine: sa.Engine) -> None:
    outbox, channel = FlakyOutbox(engine, lease=dt.timedelta(milliseconds=200)), CollectingChannel()
    conversation = _conversation(engine)
    outbox.enqueue(_message(conversation))
    worker = OutboxWorker(outbox, {"collect": channel}, retry=FAST, poll_interval=0.05)
    async with anyio.create_task_group() as group:
        group.start_soon(worker.run)
        with anyio.fail_after(10):
            while outbox.entries()[0].status != SENT:
                await anyio.sleep(0.05)
        group.cancel_scope.cancel()
    assert len(channel.sent) == 1, "the provider's record was found after the lease ran out; nothing sent twice"
