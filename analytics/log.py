"""The interaction log: events are queued in memory by the conversation and written in batches by a worker,
so logging never waits on the database while a customer waits for an answer.

A batch that fails to write (the database is down a while) stays queued and is tried again; the queue is
bounded (`max_pending`) and drops its oldest events past that, counting them, rather than grow without end.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import anyio
import sqlalchemy as sa

from analytics.events import EventKind, InteractionEvent, utc
from analytics.tables import events_table

logger = logging.getLogger(__name__)

Listener = Callable[[InteractionEvent], None]


def event_row(event: InteractionEvent) -> dict[str, Any]:
    return {
        "kind": str(event.kind),
        "conversation_id": event.conversation_id,
        "at": utc(event.at),
        "channel": event.channel,
        "customer": event.customer,
        "intent": event.intent,
        "skill": event.skill,
        "topic": event.topic,
        "confidence": event.confidence,
        "latency_ms": event.latency_ms,
        "reason": event.reason,
        "actor": event.actor,
        "value": event.value,
        "text": event.text,
        "data": dict(event.data),
    }


def event_from_row(row: sa.Row[Any]) -> InteractionEvent:
    return InteractionEvent(
        kind=EventKind(row.kind),
        conversation_id=row.conversation_id,
        at=utc(row.at),
        channel=row.channel,
        customer=row.customer,
        intent=row.intent,
        skill=row.skill,
        topic=row.topic,
        confidence=row.confidence,
        latency_ms=row.latency_ms,
        reason=row.reason,
        actor=row.actor,
        value=row.value,
        text=row.text,
        data=row.data or {},
    )


class InteractionLog:
    """Records interaction events without blocking, writes them in batches, reads them back."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        flush_interval: float = 0.5,
        batch_size: int = 500,
        max_pending: int = 100_000,
    ) -> None:
        if flush_interval <= 0 or batch_size < 1 or max_pending < batch_size:
            msg = (
                f"need flush_interval > 0, batch_size >= 1 and max_pending >= batch_size, got "
                f"{flush_interval}, {batch_size}, {max_pending}"
            )
            raise ValueError(msg)
        self.engine = engine
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self.max_pending = max_pending
        self.dropped = 0
        self._pending: collections.deque[InteractionEvent] = collections.deque()
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        """Call `listener` with every event as it is recorded (in the recorder's thread; keep it quick)."""
        self._listeners.append(listener)

    def record(self, event: InteractionEvent) -> None:
        """Queue an event for writing; returns at once."""
        with self._lock:
            if len(self._pending) >= self.max_pending:
                self._pending.popleft()
                self.dropped += 1
            self._pending.append(event)
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:  # a listener's bug must not break the conversation that logged the event
                logger.exception("interaction-log listener failed on a %s event", event.kind)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def flush(self) -> int:
        """Write every queued event now; returns how many were written. A batch that fails to write goes
        back to the front of the queue (and the error is raised)."""
        written = 0
        with self._flushing:
            while True:
                with self._lock:
                    batch = [self._pending.popleft() for _ in range(min(self.batch_size, len(self._pending)))]
                if not batch:
                    return written
                try:
                    with self.engine.begin() as conn:
                        conn.execute(sa.insert(events_table), [event_row(event) for event in batch])
                except BaseException:
                    with self._lock:
                        self._pending.extendleft(reversed(batch))
                        while len(self._pending) > self.max_pending:
                            self._pending.popleft()
                            self.dropped += 1
                    raise
                written += len(batch)

    async def run(self) -> None:
        """Flush every `flush_interval` seconds until cancelled, and once more on the way out."""
        try:
            while True:
                await anyio.sleep(self.flush_interval)
                await self._flush_in_thread()
        finally:
            with anyio.CancelScope(shield=True):
                await self._flush_in_thread()

    async def _flush_in_thread(self) -> None:
        try:
            await anyio.to_thread.run_sync(self.flush)
        except sa.exc.SQLAlchemyError as exc:
            logger.warning("interaction log: %d events wait for the database (%s)", self.pending, exc)
        except Exception:  # logging must never stop the service's other workers
            logger.exception("interaction log: a batch could not be written; %d events wait", self.pending)

    # Reading.

    def events(
        self,
        *,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        kinds: Iterable[EventKind] | None = None,
        conversation_id: str | None = None,
        customer: str | None = None,
        limit: int | None = None,
    ) -> list[InteractionEvent]:
        """Stored events in time order, filtered."""
        query = sa.select(events_table).order_by(events_table.c.at, events_table.c.id)
        if since is not None:
            query = query.where(events_table.c.at >= utc(since))
        if until is not None:
            query = query.where(events_table.c.at < utc(until))
        if kinds is not None:
            query = query.where(events_table.c.kind.in_([str(kind) for kind in kinds]))
        if conversation_id is not None:
            query = query.where(events_table.c.conversation_id == conversation_id)
        if customer is not None:
            query = query.where(events_table.c.customer == customer)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [event_from_row(row) for row in conn.execute(query)]

    # Privacy.

    def erase(self, *, conversation_ids: Sequence[str] = (), customer: str | None = None) -> int:
        """Remove the events of these conversations and of this customer key, queued ones included."""
        ids = set(conversation_ids)
        with self._flushing, self._lock:  # not while a batch is on its way: it would be written after the delete
            kept = [
                e
                for e in self._pending
                if e.conversation_id not in ids and (customer is None or e.customer != customer)
            ]
            removed = len(self._pending) - len(kept)
            self._pending = collections.deque(kept)
        conditions: list[sa.ColumnElement[bool]] = []
        if ids:
            conditions.append(events_table.c.conversation_id.in_(sorted(ids)))
        if customer is not None:
            conditions.append(events_table.c.customer == customer)
        if not conditions:
            return removed
        with self.engine.begin() as conn:
            result = conn.execute(sa.delete(events_table).where(sa.or_(*conditions)))
        return removed + result.rowcount

    def purge(self, *, older_than: dt.datetime) -> int:
        """Remove the events recorded before `older_than` (the retention period)."""
        with self.engine.begin() as conn:
            result = conn.execute(sa.delete(events_table).where(events_table.c.at < utc(older_than)))
        return result.rowcount
