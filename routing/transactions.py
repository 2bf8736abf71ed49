"""Write transactions of the routing tables: serialised writers on SQLite, retried deadlocks on PostgreSQL, and
events handed out only once their transaction has committed.

SQLite is the single-process default. Every write transaction starts with `BEGIN IMMEDIATE`, which takes
SQLite's database write lock at once, so writers take turns (threads and processes alike) and a reader that
would later want to write cannot deadlock against another writer; the engine's busy timeout makes a writer
wait for its turn instead of failing. On PostgreSQL writers run side by side under row locks taken by the
router; a deadlock or serialization failure the database reports rolls the attempt back and runs it again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import sqlalchemy as sa

from routing.models import RoutingEvent
from routing.store import event_values, events_table

T = TypeVar("T")
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure


@dataclass(slots=True)
class Transaction:
    """One write transaction and the events it recorded (handed out after commit)."""

    conn: sa.Connection
    events: list[RoutingEvent] = field(default_factory=list)

    def record(self, event: RoutingEvent) -> RoutingEvent:
        """Store `event` in the history and keep it for the listener; returns it with its id."""
        new_id = self.conn.execute(sa.insert(events_table).values(**event_values(event))).inserted_primary_key
        stored = dataclasses.replace(event, id=int(new_id[0]) if new_id else None)
        self.events.append(stored)
        return stored


class Transactor:
    """Runs units of work in write transactions on one engine and passes their events to `emit` after commit."""

    def __init__(self, engine: sa.Engine, emit: Callable[[list[RoutingEvent]], None], *, retries: int = 8) -> None:
        if retries < 1:
            msg = f"retries must be at least 1, got {retries}"
            raise ValueError(msg)
        self.engine = engine
        self.emit = emit
        self.retries = retries
        self.sqlite = engine.dialect.name == "sqlite"

    @contextmanager
    def _begin(self) -> Iterator[Transaction]:
        with self.engine.begin() as conn:
            if self.sqlite:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield Transaction(conn)

    def run(self, work: Callable[[Transaction], T]) -> T:
        """Run `work` in one write transaction (again after a deadlock), then emit its events."""
        for attempt in range(self.retries):
            try:
                with self._begin() as tx:
                    result = work(tx)
            except sa.exc.DBAPIError as exc:
                if getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES and attempt + 1 < self.retries:
                    continue
                raise
            self.emit(tx.events)
            return result
        msg = "unreachable: the retry loop returns or raises"
        raise AssertionError(msg)
