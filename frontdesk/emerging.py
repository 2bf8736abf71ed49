"""The emerging-issue monitor: the service's customer messages, as the interaction log holds them, grouped
into topics and watched by the detector; its surges become alerts (and their webhooks and e-mails).

It tails `analytics_events` rather than listening in-process, so that with several workers one monitor sees
every worker's messages: a lock (a PostgreSQL advisory lock, or a file lock beside the SQLite database) lets
one process at a time run it, and another takes over when that one stops. Each message's topic is written
back to its event, which lets a restarted monitor rebuild its baselines from the log without encoding
anything; topics of online clusters mean nothing after a restart and are left out of that.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import anyio
import sqlalchemy as sa

from analytics import EventKind
from analytics.alerts import AlertStore
from analytics.emerging import EmergingIssueDetector, TopicMessage
from analytics.surges import Surge
from analytics.tables import events_table
from analytics.topics import CLUSTER_PREFIX, OnlineClusters, TopicGrouper
from conversations.intake import utc

logger = logging.getLogger(__name__)

LOCK_KEY = 0x46445345  # the PostgreSQL advisory lock of the monitor ("FDSE")
MAX_UNAPPLIED = 10_000  # surge reports kept while the alert store refuses them


class NoIntents:
    """A topic assigner for a service without a trained intent model: every message goes to the clusters."""

    def assign(self, texts: Sequence[str]) -> list[str | None]:
        return [None] * len(texts)


class EmergingMonitor:
    """Tails the customer messages of the interaction log, assigns their topics, runs the detector and turns
    its surges into alerts; also answers which proactive notice applies to a message."""

    def __init__(
        self,
        engine: sa.Engine,
        grouper: TopicGrouper,
        detector: EmergingIssueDetector,
        alerts: AlertStore,
        *,
        history: dt.timedelta = dt.timedelta(days=28),
        poll_interval: float = 2.0,
        batch_size: int = 256,
        lock_file: Path | None = None,
        notice_ttl: float = 5.0,
        lookback: dt.timedelta = dt.timedelta(hours=1),
    ) -> None:
        self.engine = engine
        self.grouper = grouper
        self.detector = detector
        self.alerts = alerts
        self.history = history
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self.lock_file = lock_file
        self.notice_ttl = notice_ttl
        self.cursor = 0  # the highest event id handled
        self.floor = 0  # events at or below this id are older than the monitor (warm_up): never tagged now
        self.lookback = lookback  # untagged messages older than this are left alone
        self._notices: tuple[float, dict[str, tuple[str, str]]] = (-1e9, {})
        self._unapplied: deque[Surge] = deque(maxlen=MAX_UNAPPLIED)  # reports the alert store refused, in order

    # Baselines from the log.

    def warm_up(self, now: dt.datetime | None = None) -> int:
        """Feed the detector the topic-tagged messages of the last `history` (intents only), and start
        tailing after the newest event; returns how many messages it read."""
        now = now or dt.datetime.now(dt.UTC)
        e = events_table.c
        query = (
            sa.select(e.id, e.at, e.topic, e.channel, e.customer, e.text)
            .where(e.kind == EventKind.MESSAGE_IN.value, e.at >= now - self.history)
            .order_by(e.id)
        )
        count = 0
        with self.engine.connect() as conn:
            self.cursor = conn.execute(sa.select(sa.func.coalesce(sa.func.max(e.id), 0))).scalar_one()
            self.floor = self.cursor
            for row in conn.execute(query.execution_options(yield_per=5000)):
                if row.topic and not row.topic.startswith(CLUSTER_PREFIX):
                    self.detector.observe(_message(row, row.topic))
                    count += 1
        self.detector.tick(now)  # surges that ended meanwhile end now, without an announcement
        for alert in self.alerts.list_alerts(status="open"):
            if alert.topic.startswith(CLUSTER_PREFIX):  # a cluster of a run that is gone: it cannot end by itself
                self.alerts.resolve(alert.id)
        return count

    # Tailing.

    def step(self, now: dt.datetime | None = None) -> list[Surge]:
        """Handle the messages logged since the last step; returns the surges reported (already applied to
        the alerts)."""
        e = events_table.c
        now = now or dt.datetime.now(dt.UTC)
        # Untagged messages, not "ids above the last one": on PostgreSQL a worker's batch may commit after a
        # later id of another worker's, and would be skipped.
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(e.id, e.at, e.channel, e.customer, e.text)
                .where(
                    e.kind == EventKind.MESSAGE_IN.value,
                    e.topic.is_(None),
                    e.id > self.floor,
                    e.at >= now - self.lookback,
                )
                .order_by(e.at, e.id)
                .limit(self.batch_size)
            ).all()
        surges: list[Surge] = []
        if rows:
            texts = [row.text or "" for row in rows]
            topics = self.grouper.topics(texts, at=[utc(row.at) for row in rows])
            with self.engine.begin() as conn:
                conn.execute(
                    sa.update(events_table).where(e.id == sa.bindparam("event_id")).values(topic=sa.bindparam("t")),
                    [{"event_id": row.id, "t": topic[:128]} for row, topic in zip(rows, topics, strict=True)],
                )
            for row, topic in zip(rows, topics, strict=True):
                surges.extend(self.detector.observe(_message(row, topic)))
            self.cursor = max(self.cursor, max(row.id for row in rows))
        surges.extend(self.detector.tick(now))
        if len(self._unapplied) + len(surges) > MAX_UNAPPLIED:
            logger.error("the alert store has refused surge reports for long: the oldest are dropped")
        self._unapplied.extend(surges)
        self._apply_reports()
        return surges

    def _apply_reports(self) -> None:
        """Apply the surge reports not yet applied, in order. One the store refuses (the database is down)
        stays first in line, with those after it, and the next step tries again: the detector reports a
        surge once, so a report lost here would be an alert never raised."""
        while self._unapplied:
            surge = self._unapplied[0]
            change = self.alerts.apply(surge)
            self._unapplied.popleft()
            if change is not None:
                logger.warning(
                    "emerging issue %s: alert %s on topic %s (%d messages, %d customers, %.1f expected)",
                    change.event,
                    change.alert.id,
                    surge.topic,
                    surge.messages,
                    surge.customers,
                    surge.expected,
                )

    async def run(self) -> None:
        """Be the monitor while this process holds the lock (waiting for it otherwise), until cancelled. A
        failing step is logged and tried again: the monitor must not stop the service's other workers."""
        while True:
            try:
                await self._lead()
            except Exception:
                logger.exception("the emerging-issue monitor failed; it starts again shortly")
            await anyio.sleep(self.poll_interval * 5)

    async def _lead(self) -> None:
        with self._leadership() as leading:
            if not leading:
                return
            await anyio.to_thread.run_sync(self.warm_up)
            while True:
                try:
                    surges = await anyio.to_thread.run_sync(self.step)
                except Exception:
                    logger.exception("the emerging-issue monitor failed a step; it tries again")
                    surges = []
                if not surges:
                    await anyio.sleep(self.poll_interval)

    @contextlib.contextmanager
    def _leadership(self) -> Iterator[bool]:
        if self.engine.dialect.name == "postgresql":
            with self.engine.connect() as conn:
                held = bool(conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}).scalar())
                conn.commit()
                try:
                    yield held
                finally:
                    if held:
                        conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
                        conn.commit()
            return
        if self.lock_file is None:
            yield True
            return
        self.lock_file.parent.mkdir(parents=True, exist_ok=True)
        handle: IO[Any] = self.lock_file.open("a")
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            handle.close()

    # Proactive notices.

    def notice_for(self, text: str) -> tuple[str, str] | None:
        """The (alert id, notice) a supervisor switched on for this message's topic, if any. Costs nothing
        while no notice is on; otherwise places the message without adding it to any cluster."""
        notices = self._active_notices()
        if not notices:
            return None
        topic = self.grouper.peek(text)
        return notices.get(topic) if topic is not None else None

    def _active_notices(self) -> dict[str, tuple[str, str]]:
        checked, notices = self._notices
        if time.monotonic() - checked < self.notice_ttl:
            return notices
        notices = {
            alert.topic: (alert.id, alert.notice)
            for alert in self.alerts.list_alerts(status="open")
            if alert.notice_active and alert.notice
        }
        self._notices = (time.monotonic(), notices)
        return notices


def _message(row: Any, topic: str) -> TopicMessage:
    return TopicMessage(
        at=utc(row.at), topic=topic, channel=row.channel or "", customer=row.customer, text=row.text or ""
    )


def build_monitor(
    engine: sa.Engine,
    alerts: AlertStore,
    *,
    encode: Callable[[Sequence[str]], Any],
    classifier: Any | None,
    lock_file: Path | None,
) -> EmergingMonitor:
    """The monitor with the service's intent classifier (when trained) and its embedder for the clusters."""
    from frontdesk.emerging_topics import IntentTopicAssigner

    assigner = IntentTopicAssigner(classifier) if classifier is not None else NoIntents()
    # Cluster numbers start from the clock (in thousandths of a second's worth of room), so a restarted
    # monitor never reuses the numbers of clusters (and alerts) it has forgotten.
    grouper = TopicGrouper(assigner, encode=encode, clusters=OnlineClusters(first_number=int(time.time()) * 1000))
    detector = EmergingIssueDetector(label=grouper.label)
    return EmergingMonitor(engine, grouper, detector, alerts, lock_file=lock_file)
