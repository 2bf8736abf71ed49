"""The outbox: every reply to a customer is stored first and delivered by a worker that retries with backoff.

A row is enqueued in the same transaction as the reply it carries (its `dedupe_key` keeps a retried answer
from being enqueued twice). A worker claims a due row for a lease, hands it to its channel and marks it
sent, or schedules another attempt after an exponentially growing, jittered delay; after `max_attempts` it
is marked failed, kept, and a system note on the conversation says why. A row whose lease ran out while
`sending` (the worker died mid-way) is first checked with the channel's `find_delivered`, so a reply the
provider already took is not sent again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import sqlalchemy as sa

from channels.base import Channel, DeliveryError
from channels.messages import Delivery, Link, OutboundMessage
from conversations.intake import record_keys, utc
from conversations.store import insert_message, metadata, update_conversation

logger = logging.getLogger(__name__)

outbox_table = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dedupe_key", sa.String(256), nullable=False, unique=True),
    sa.Column("conversation_id", sa.String(128), nullable=False, index=True),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("claim", sa.String(32), nullable=True),
    sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("provider_ids", sa.JSON, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
)

delivery_status_table = sa.Table(
    "delivery_status",
    metadata,
    sa.Column("channel", sa.String(32), primary_key=True),
    sa.Column("provider_message_id", sa.String(256), primary_key=True),
    sa.Column("outbox_id", sa.Integer, sa.ForeignKey("outbox.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("conversation_id", sa.String(128), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("error_code", sa.String(32), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# One row per outbox row for which a WhatsApp template was sent after its window closed: the primary key makes
# the template a once-only decision, whatever number of failed parts, replays or workers report the closure.
outbox_templates_table = sa.Table(
    "outbox_templates",
    metadata,
    sa.Column("outbox_id", sa.Integer, sa.ForeignKey("outbox.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
)

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"

# How far along a provider's delivery status is: a status is recorded only over a lower one, so a repeated or
# late callback (`delivered` after `failed`, `sent` after `delivered`) never moves a message backwards.
# The failures are final: nothing is recorded over them, not even another failure.
STATUS_RANKS: dict[str, int] = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "receiving": 3,
    "received": 3,
    "partially_delivered": 4,
    "delivered": 5,
    "read": 6,
    "undelivered": 7,
    "failed": 7,
    "canceled": 7,
}
NOT_DELIVERED: frozenset[str] = frozenset({"failed", "undelivered"})


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def outbound_to_json(message: OutboundMessage) -> dict[str, Any]:
    """An outbound message as JSON-able data for the outbox row."""
    data = dataclasses.asdict(message)
    data["citations"] = [dataclasses.asdict(link) for link in message.citations]
    data["references"] = list(message.references)
    data["metadata"] = dict(message.metadata)
    return data


def outbound_from_json(data: Mapping[str, Any]) -> OutboundMessage:
    """The outbound message stored by `outbound_to_json`."""
    values = dict(data)
    values["citations"] = tuple(Link(**link) for link in values.get("citations", ()))
    values["references"] = tuple(values.get("references", ()))
    values["metadata"] = dict(values.get("metadata", {}))
    return OutboundMessage(**values)


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One row of the outbox, as the API and tests see it."""

    id: int
    dedupe_key: str
    conversation_id: str
    channel: str
    message: OutboundMessage
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str | None
    provider_ids: list[str]
    created_at: dt.datetime
    sent_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class StatusChange:
    """What a provider's status callback did: the outbox row of the message and whether the status was
    recorded (False when the message already had it, or a status further along, from an earlier callback)."""

    entry: OutboxEntry
    status: str
    recorded: bool


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how soon a failing delivery is tried again."""

    max_attempts: int = 8
    base_delay: float = 2.0
    max_delay: float = 300.0
    jitter: float = 0.2

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failed attempt."""
        raw = min(self.max_delay, self.base_delay * 2 ** max(0, attempts - 1))
        return raw * (1 + random.uniform(-self.jitter, self.jitter))


def enqueue(conn: sa.Connection, message: OutboundMessage, *, dedupe_key: str, now: dt.datetime) -> bool:
    """Put a reply in the outbox inside the caller's transaction; False when `dedupe_key` was enqueued before."""
    exists = conn.execute(sa.select(outbox_table.c.id).where(outbox_table.c.dedupe_key == dedupe_key)).first()
    if exists is not None:
        return False
    conn.execute(
        sa.insert(outbox_table).values(
            dedupe_key=dedupe_key[:256],
            conversation_id=message.conversation_id,
            channel=message.channel,
            payload=outbound_to_json(message),
            status=PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
    return True


class Outbox:
    """Reads and changes the outbox; `OutboxWorker` delivers from it."""

    def __init__(self, engine: sa.Engine, *, lease: dt.timedelta = dt.timedelta(seconds=60)) -> None:
        self.engine = engine
        self.lease = lease

    def enqueue(self, message: OutboundMessage, *, dedupe_key: str | None = None) -> bool:
        """Put a reply in the outbox in its own transaction (see `enqueue`)."""
        with self.engine.begin() as conn:
            return enqueue(conn, message, dedupe_key=dedupe_key or message.message_id, now=_now())

    def entries(
        self, *, conversation_id: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[OutboxEntry]:
        """Outbox rows, newest first."""
        table = outbox_table.c
        query = sa.select(outbox_table).order_by(table.id.desc()).limit(limit)
        if conversation_id is not None:
            query = query.where(table.conversation_id == conversation_id)
        if status is not None:
            query = query.where(table.status == status)
        with self.engine.connect() as conn:
            return [_entry(row) for row in conn.execute(query)]

    def next_due(self) -> dt.datetime | None:
        """When the earliest waiting row becomes due (None when nothing waits)."""
        table = outbox_table.c
        with self.engine.connect() as conn:
            pending = conn.execute(
                sa.select(sa.func.min(table.next_attempt_at)).where(table.status == PENDING)
            ).scalar_one()
            stuck = conn.execute(
                sa.select(sa.func.min(table.claimed_until)).where(table.status == SENDING)
            ).scalar_one()
        times = [utc(t) for t in (pending, stuck) if t is not None]
        return min(times) if times else None

    def claim_due(self, limit: int = 20) -> list[tuple[OutboxEntry, bool]]:
        """Take up to `limit` due rows for one lease each; each comes with whether an earlier attempt was
        interrupted mid-send (its lease ran out while sending)."""
        table = outbox_table.c
        now = _now()
        due = sa.or_(
            sa.and_(table.status == PENDING, table.next_attempt_at <= now),
            sa.and_(table.status == SENDING, table.claimed_until < now),
        )
        claimed: list[tuple[OutboxEntry, bool]] = []
        with self.engine.connect() as conn:
            candidates = list(
                conn.execute(sa.select(table.id, table.status).where(due).order_by(table.id).limit(limit))
            )
        for candidate in candidates:
            token = uuid.uuid4().hex
            with self.engine.begin() as conn:
                taken = conn.execute(
                    sa.update(outbox_table)
                    .where(table.id == candidate.id, due)
                    .values(status=SENDING, claim=token, claimed_until=now + self.lease, attempts=table.attempts + 1)
                ).rowcount
                if taken != 1:
                    continue
                row = conn.execute(sa.select(outbox_table).where(table.id == candidate.id)).one()
            claimed.append((_entry(row), candidate.status == SENDING))
        return claimed

    def mark_sent(self, entry: OutboxEntry, delivery: Delivery) -> None:
        """Record a delivery, the thread keys it brings and the provider ids on the reply's message."""
        now = _now()
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(outbox_table)
                .where(outbox_table.c.id == entry.id)
                .values(
                    status=SENT,
                    sent_at=now,
                    claim=None,
                    claimed_until=None,
                    last_error=delivery.note,
                    provider_ids=list(delivery.provider_message_ids),
                )
            )
            record_keys(conn, entry.channel, entry.conversation_id, [key.value for key in delivery.thread_keys], now)
            for provider_id in dict.fromkeys(delivery.provider_message_ids):
                exists = conn.execute(
                    sa.select(delivery_status_table.c.outbox_id).where(
                        delivery_status_table.c.channel == entry.channel,
                        delivery_status_table.c.provider_message_id == provider_id,
                    )
                ).first()
                if exists is None:
                    conn.execute(
                        sa.insert(delivery_status_table).values(
                            channel=entry.channel,
                            provider_message_id=provider_id[:256],
                            outbox_id=entry.id,
                            conversation_id=entry.conversation_id,
                            status="accepted",
                            updated_at=now,
                        )
                    )

    def mark_failed_attempt(self, entry: OutboxEntry, error: str, *, retry_in: float | None) -> None:
        """Schedule another attempt in `retry_in` seconds, or give up (None): failed, with a note on the
        conversation so a person sees it."""
        now = _now()
        with self.engine.begin() as conn:
            if retry_in is not None:
                conn.execute(
                    sa.update(outbox_table)
                    .where(outbox_table.c.id == entry.id)
                    .values(
                        status=PENDING,
                        claim=None,
                        claimed_until=None,
                        last_error=error[:2000],
                        next_attempt_at=now + dt.timedelta(seconds=retry_in),
                    )
                )
                return
            conn.execute(
                sa.update(outbox_table)
                .where(outbox_table.c.id == entry.id)
                .values(status=FAILED, claim=None, claimed_until=None, last_error=error[:2000])
            )
            insert_message(
                conn,
                entry.conversation_id,
                "system",
                f"A reply could not be delivered on {entry.channel}: {error}",
                now=now,
                details={"outbox_id": entry.id, "delivery": "failed", "error": error[:2000]},
            )
            update_conversation(conn, entry.conversation_id, updated_at=now)

    def record_status(
        self, channel: str, provider_message_id: str, status: str, *, error_code: str | None = None
    ) -> StatusChange | None:
        """Record what the provider later said of a message it took (delivered, read, failed...); None for a
        message this service did not send. The status is recorded only when it is further along than the one
        recorded (see `STATUS_RANKS`), in one conditional UPDATE, so that a replayed or late callback, or the
        same callback reaching two workers at once, changes nothing; a failure recorded adds one note to the
        conversation so a person sees it. `ValueError` for a status outside `STATUS_RANKS`."""
        rank = STATUS_RANKS.get(status)
        if rank is None:
            known = ", ".join(STATUS_RANKS)
            msg = f"unknown delivery status {status!r} for message {provider_message_id}; known: {known}"
            raise ValueError(msg)
        table = delivery_status_table.c
        recorded_rank = sa.case(STATUS_RANKS, value=table.status, else_=-1)
        now = _now()
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(table.outbox_id, table.conversation_id).where(
                    table.channel == channel, table.provider_message_id == provider_message_id
                )
            ).first()
            if row is None:
                return None
            recorded = (
                conn.execute(
                    sa.update(delivery_status_table)
                    .where(
                        table.channel == channel,
                        table.provider_message_id == provider_message_id,
                        recorded_rank < rank,
                    )
                    .values(status=status[:32], error_code=error_code[:32] if error_code else None, updated_at=now)
                ).rowcount
                == 1
            )
            if recorded and status in NOT_DELIVERED:
                insert_message(
                    conn,
                    row.conversation_id,
                    "system",
                    f"A reply was not delivered on {channel} ({status}, error {error_code or 'unknown'}).",
                    now=now,
                    details={"outbox_id": row.outbox_id, "delivery": status, "error_code": error_code},
                )
            current = conn.execute(
                sa.select(table.status).where(
                    table.channel == channel, table.provider_message_id == provider_message_id
                )
            ).scalar_one()
            entry = conn.execute(sa.select(outbox_table).where(outbox_table.c.id == row.outbox_id)).one()
        return StatusChange(entry=_entry(entry), status=current, recorded=recorded)

    def claim_template(self, entry_id: int) -> bool:
        """Take the one chance an outbox row has to be replaced by a WhatsApp template (its window closed);
        False when it was taken before, by this worker or another."""
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(outbox_templates_table).values(outbox_id=entry_id, claimed_at=_now()))
        except sa.exc.IntegrityError:
            return False
        return True

    def statuses(self, conversation_id: str) -> list[dict[str, Any]]:
        """The providers' delivery statuses of a conversation's replies, oldest first."""
        table = delivery_status_table.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(delivery_status_table)
                .where(table.conversation_id == conversation_id)
                .order_by(table.outbox_id, table.provider_message_id)
            )
            return [dict(row._mapping) for row in rows]

    def retry(self, entry_id: int) -> bool:
        """Put a failed row back in the queue (a person fixed the cause); False when it is not failed."""
        with self.engine.begin() as conn:
            changed = conn.execute(
                sa.update(outbox_table)
                .where(outbox_table.c.id == entry_id, outbox_table.c.status == FAILED)
                .values(status=PENDING, attempts=0, next_attempt_at=_now())
            ).rowcount
        return changed == 1


class Doorbell:
    """Wakes the worker waiting on it, from the worker's own event loop or from any thread.

    A worker is given its doorbell at construction, and so is whoever tells it there is work (the inbox for
    queued messages, anything that enqueues for the outbox); nobody attaches callbacks afterwards. A ring
    before the worker waits is kept for its first wait.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: anyio.Event | None = None
        self._rung = False

    def ring(self) -> None:
        """There is work: wake the worker now rather than at its next poll (safe from any thread)."""
        event = self._event
        if event is None:
            self._rung = True
            return
        wake_up(self._loop, event)

    async def wait(self, timeout: float) -> None:
        """Until the bell rings or `timeout` seconds pass (in the worker's task)."""
        if self._event is None:
            self._loop = asyncio.get_running_loop()
            self._event = anyio.Event()
        if self._rung:
            self._rung = False
            return
        with anyio.move_on_after(timeout):
            await self._event.wait()
        self._event = anyio.Event()


def wake_up(loop: asyncio.AbstractEventLoop | None, event: anyio.Event) -> None:
    """Set `event` of a worker running on `loop`, from that loop or from any other thread."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if loop is None or running is loop:
        event.set()
    elif not loop.is_closed():
        loop.call_soon_threadsafe(event.set)


def _entry(row: sa.Row[Any]) -> OutboxEntry:
    return OutboxEntry(
        id=int(row.id),
        dedupe_key=row.dedupe_key,
        conversation_id=row.conversation_id,
        channel=row.channel,
        message=outbound_from_json(row.payload),
        status=row.status,
        attempts=int(row.attempts),
        next_attempt_at=utc(row.next_attempt_at),
        last_error=row.last_error,
        provider_ids=list(row.provider_ids or []),
        created_at=utc(row.created_at),
        sent_at=utc(row.sent_at) if row.sent_at is not None else None,
    )


class OutboxWorker:
    """Delivers due outbox rows through their channels; wakes when told or when the next row is due."""

    def __init__(
        self,
        outbox: Outbox,
        channels: Mapping[str, Channel],
        *,
        retry: RetryPolicy | None = None,
        poll_interval: float = 5.0,
        concurrency: int = 8,
        doorbell: Doorbell | None = None,
    ) -> None:
        self.outbox = outbox
        self.channels = dict(channels)
        self.retry = retry or RetryPolicy()
        self.poll_interval = poll_interval
        self.doorbell = doorbell or Doorbell()
        self._limiter = anyio.CapacityLimiter(concurrency)

    def notify(self) -> None:
        """Something was enqueued: look now rather than at the next poll (safe from any thread)."""
        self.doorbell.ring()

    async def run(self) -> None:
        """Deliver until cancelled. Database errors are logged and retried at the next poll, never fatal."""
        while True:
            try:
                await self.deliver_due()
                wait = self.poll_interval
                due = await anyio.to_thread.run_sync(self.outbox.next_due)
                if due is not None:
                    wait = max(0.05, min(wait, (due - _now()).total_seconds()))
            except Exception:  # a database outage (or a bug) must not end delivery: try again at the next poll
                logger.exception("the outbox could not be worked; trying again in %.0f s", self.poll_interval)
                wait = self.poll_interval
            await self.doorbell.wait(wait)

    async def deliver_due(self) -> int:
        """Deliver every row due now; return how many were handled (sent, retried later or failed)."""
        handled = 0
        while True:
            batch = await anyio.to_thread.run_sync(self.outbox.claim_due)
            if not batch:
                return handled
            async with anyio.create_task_group() as group:
                for entry, interrupted in batch:
                    group.start_soon(self._deliver, entry, interrupted)
            handled += len(batch)

    async def _deliver(self, entry: OutboxEntry, interrupted: bool) -> None:
        try:
            await self._deliver_one(entry, interrupted)
        except sa.exc.SQLAlchemyError:  # the outcome was not recorded: the lease runs out, then it is re-checked
            logger.exception("the outcome of delivery %d could not be recorded", entry.id)

    async def _deliver_one(self, entry: OutboxEntry, interrupted: bool) -> None:
        async with self._limiter:
            channel = self.channels.get(entry.channel)
            if channel is None:
                error = f"no channel named {entry.channel!r} is configured"
                await anyio.to_thread.run_sync(lambda: self.outbox.mark_failed_attempt(entry, error, retry_in=None))
                return
            try:
                delivery = None
                if interrupted:
                    delivery = await channel.find_delivered(entry.message, entry.created_at)
                if delivery is None:
                    delivery = await channel.send(entry.message)
            except DeliveryError as exc:
                retry_in = self.retry.delay(entry.attempts) if exc.retryable else None
                if entry.attempts >= self.retry.max_attempts:
                    retry_in = None
                logger.warning("delivery %d on %s failed (%s): %s", entry.id, entry.channel, exc.code, exc.reason)
                why = exc.reason
                await anyio.to_thread.run_sync(lambda: self.outbox.mark_failed_attempt(entry, why, retry_in=retry_in))
                return
            except Exception as exc:  # an adapter bug must not stop the worker; the row retries like an outage
                logger.exception("delivery %d on %s raised", entry.id, entry.channel)
                reason = f"{type(exc).__name__}: {exc}"
                retry_in = self.retry.delay(entry.attempts) if entry.attempts < self.retry.max_attempts else None
                await anyio.to_thread.run_sync(
                    lambda: self.outbox.mark_failed_attempt(entry, reason, retry_in=retry_in)
                )
                return
            sent = delivery
            await anyio.to_thread.run_sync(lambda: self.outbox.mark_sent(entry, sent))
