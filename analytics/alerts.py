"""Emerging-issue alerts: what the detector's surges become, for supervisors, webhooks and the web chat.

`AlertStore.apply(surge)` opens one alert per topic, updates it as the surge grows and resolves it when the
surge ends. A change is announced (`alert.opened`, `alert.updated`, `alert.resolved`) only when it matters:
an update only when the messages or customers at least doubled since the last announcement, or a channel
joined. Every announcement enqueues one delivery per destination (webhook URL, supervisor address) in the
same transaction as the alert change, so a change the database kept is never lost; a worker
(`analytics.webhooks.AlertDeliveryWorker`) sends them. Each announcement also leaves a `dashboard` row
(status `sent`): the alert's history, and the figures the next update is compared with.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from analytics.events import utc
from analytics.surges import Surge
from analytics.tables import alerts_table, deliveries_table

OPENED, UPDATED, RESOLVED = "alert.opened", "alert.updated", "alert.resolved"
OPEN, CLOSED = "open", "resolved"
PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
WEBHOOK, EMAIL, DASHBOARD = "webhook", "email", "dashboard"
NOTICE_MAX_CHARS = 500
GROWTH = 2.0  # an update is announced when messages or customers grew by this factor since the last one


class AlertError(Exception):
    """Base of the alert errors."""


class AlertNotFoundError(AlertError, LookupError):
    """No alert has this id."""


class AlertConflictError(AlertError):
    """The alert is not in a state that allows the change (e.g. it is resolved already)."""


def _iso(value: dt.datetime | None) -> str | None:
    return utc(value).isoformat() if value is not None else None


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert: a topic running above its baseline, with the figures last reported by the detector."""

    id: str
    topic: str
    label: str
    status: str
    started_at: dt.datetime
    detected_at: dt.datetime
    updated_at: dt.datetime
    resolved_at: dt.datetime | None
    messages: int
    customers: int
    expected: float
    channels: dict[str, int]
    examples: tuple[str, ...]
    notice: str | None
    notice_active: bool

    def as_json(self) -> dict[str, Any]:
        """The alert as the API and the dashboard show it."""
        return {
            "id": self.id,
            "topic": self.topic,
            "label": self.label,
            "status": self.status,
            "started_at": _iso(self.started_at),
            "detected_at": _iso(self.detected_at),
            "updated_at": _iso(self.updated_at),
            "resolved_at": _iso(self.resolved_at),
            "messages": self.messages,
            "customers": self.customers,
            "expected": self.expected,
            "channels": dict(self.channels),
            "examples": list(self.examples),
            "notice": self.notice,
            "notice_active": self.notice_active,
        }


@dataclass(frozen=True, slots=True)
class Delivery:
    """One announcement to one destination; `id` is the delivery id, the same on every attempt."""

    id: str
    alert_id: str
    event: str
    target: str
    destination: str
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str | None
    created_at: dt.datetime
    sent_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class AlertChange:
    """An announced change: the event, the alert after it, and the deliveries it enqueued."""

    event: str
    alert: Alert
    deliveries: tuple[str, ...]


def _alert(row: sa.Row[Any]) -> Alert:
    return Alert(
        id=row.id,
        topic=row.topic,
        label=row.label,
        status=row.status,
        started_at=utc(row.started_at),
        detected_at=utc(row.detected_at),
        updated_at=utc(row.updated_at),
        resolved_at=utc(row.resolved_at) if row.resolved_at is not None else None,
        messages=int(row.messages),
        customers=int(row.customers),
        expected=float(row.expected),
        channels={str(k): int(v) for k, v in (row.channels or {}).items()},
        examples=tuple(row.examples or ()),
        notice=row.notice,
        notice_active=bool(row.notice_active),
    )


def delivery_from_row(row: sa.Row[Any]) -> Delivery:
    """A deliveries row as a `Delivery`."""
    return Delivery(
        id=row.id,
        alert_id=row.alert_id,
        event=row.event,
        target=row.target,
        destination=row.destination,
        payload=dict(row.payload or {}),
        status=row.status,
        attempts=int(row.attempts),
        next_attempt_at=utc(row.next_attempt_at),
        last_error=row.last_error,
        created_at=utc(row.created_at),
        sent_at=utc(row.sent_at) if row.sent_at is not None else None,
    )


def _grew(announced: dict[str, Any], alert: Alert) -> bool:
    """Whether `alert` differs enough from the figures last announced to announce it again."""
    messages, customers = int(announced.get("messages", 0)), int(announced.get("customers", 0))
    channels = set(announced.get("channels", {}))
    return (
        alert.messages >= max(1, messages) * GROWTH
        or alert.customers >= max(1, customers) * GROWTH
        or not set(alert.channels) <= channels
    )


class AlertStore:
    """Alerts and their deliveries (the outbox of announcements) in `analytics_alerts` and
    `analytics_deliveries`; `on_change` is called after every announced change has committed (e.g. to wake
    the delivery worker; keep it quick)."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        webhook_urls: Sequence[str] = (),
        emails: Sequence[str] = (),
        dashboard_url: str | None = None,
        on_change: Callable[[AlertChange], None] | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        for url in webhook_urls:
            if not url.startswith(("http://", "https://")) or len(url) > 512:
                msg = f"an alert webhook URL must be http(s):// and at most 512 characters, got {url!r}"
                raise ValueError(msg)
        for address in emails:
            if "@" not in address.strip("@") or len(address) > 512 or any(c.isspace() for c in address):
                msg = f"an alert e-mail address must look like name@example.com, got {address!r}"
                raise ValueError(msg)
        self.engine = engine
        self.webhook_urls = tuple(dict.fromkeys(webhook_urls))
        self.emails = tuple(dict.fromkeys(emails))
        self.dashboard_url = dashboard_url
        self.on_change = on_change
        self.clock = clock

    @contextmanager
    def _write(self, topic: str | None = None) -> Iterator[sa.Connection]:
        """A write transaction: SQLite's write lock at once; on PostgreSQL a lock on the topic, so two
        processes applying surges of one topic take turns (and open one alert, not two)."""
        with self.engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            elif conn.dialect.name == "postgresql" and topic is not None:
                key = int.from_bytes(hashlib.sha256(f"alert:{topic}".encode()).digest()[:8], "big", signed=True)
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
            yield conn

    # Surges.

    def apply(self, surge: Surge) -> AlertChange | None:
        """Open, update or resolve the topic's alert after a surge report; the announced change, or None
        when nothing worth announcing happened (the figures are kept current either way)."""
        with self._write(surge.topic) as conn:
            change = self._apply(conn, surge, utc(self.clock()))
        self._changed(change)
        return change

    def _apply(self, conn: sa.Connection, surge: Surge, now: dt.datetime) -> AlertChange | None:
        table = alerts_table.c
        row = conn.execute(
            sa.select(alerts_table).where(table.topic == surge.topic, table.status == OPEN).limit(1)
        ).first()
        figures = {
            "label": surge.label[:256],
            "messages": surge.messages,
            "customers": surge.customers,
            "expected": float(surge.expected),
            "channels": {str(k): int(v) for k, v in surge.channels.items()},
            "examples": list(surge.examples)[:10],
            "updated_at": now,
        }
        if row is None:
            if surge.ended or self._same_as_resolved(conn, surge):
                return None
            alert_id = str(uuid.uuid4())
            values = {"id": alert_id, "topic": surge.topic[:128], "status": OPEN, **figures}
            values |= {"started_at": utc(surge.started_at), "detected_at": utc(surge.detected_at)}
            conn.execute(sa.insert(alerts_table).values(notice=None, notice_active=False, resolved_at=None, **values))
            return self._announce(conn, OPENED, alert_id, now)
        if surge.ended:
            figures |= {"status": CLOSED, "resolved_at": utc(surge.detected_at), "notice_active": False}
            conn.execute(sa.update(alerts_table).where(table.id == row.id).values(**figures))
            return self._announce(conn, RESOLVED, row.id, now)
        conn.execute(sa.update(alerts_table).where(table.id == row.id).values(**figures))
        alert = self._get(conn, row.id)
        if not _grew(self._announced(conn, row.id), alert):
            return None
        return self._announce(conn, UPDATED, row.id, now)

    def _same_as_resolved(self, conn: sa.Connection, surge: Surge) -> bool:
        """A surge that began before the topic's last alert was resolved is that alert's surge: it opens
        no new alert unless it at least doubled since."""
        table = alerts_table.c
        last = conn.execute(
            sa.select(table.resolved_at, table.messages)
            .where(table.topic == surge.topic, table.status == CLOSED)
            .order_by(table.resolved_at.desc())
            .limit(1)
        ).first()
        if last is None or last.resolved_at is None:
            return False
        return utc(surge.started_at) <= utc(last.resolved_at) and surge.messages < max(1, last.messages) * GROWTH

    def _announced(self, conn: sa.Connection, alert_id: str) -> dict[str, Any]:
        table = deliveries_table.c
        payload = conn.execute(
            sa.select(table.payload)
            .where(table.alert_id == alert_id, table.target == DASHBOARD)
            .order_by(table.created_at.desc())
            .limit(1)
        ).scalar_one_or_none()
        return dict((payload or {}).get("alert", {}))

    def _announce(self, conn: sa.Connection, event: str, alert_id: str, now: dt.datetime) -> AlertChange:
        """Enqueue the deliveries of one announcement (and its dashboard record) in the caller's transaction."""
        alert = self._get(conn, alert_id)
        body = {key: value for key, value in alert.as_json().items() if key not in {"notice", "notice_active"}}
        targets = [(DASHBOARD, "/dashboard")]
        targets += [(WEBHOOK, url) for url in self.webhook_urls] + [(EMAIL, address) for address in self.emails]
        ids: list[str] = []
        for target, destination in targets:
            delivery_id = str(uuid.uuid4())
            payload: dict[str, Any] = {"id": delivery_id, "event": event, "created_at": now.isoformat(), "alert": body}
            if self.dashboard_url:
                payload["dashboard_url"] = self.dashboard_url
            recorded = target == DASHBOARD
            conn.execute(
                sa.insert(deliveries_table).values(
                    id=delivery_id,
                    alert_id=alert_id,
                    event=event,
                    target=target,
                    destination=destination,
                    payload=payload,
                    status=SENT if recorded else PENDING,
                    attempts=0,
                    next_attempt_at=now,
                    last_error=None,
                    created_at=now,
                    sent_at=now if recorded else None,
                )
            )
            if not recorded:
                ids.append(delivery_id)
        return AlertChange(event, alert, tuple(ids))

    def _changed(self, change: AlertChange | None) -> None:
        if change is not None and self.on_change is not None:
            self.on_change(change)

    # Reading.

    def _get(self, conn: sa.Connection, alert_id: str) -> Alert:
        row = conn.execute(sa.select(alerts_table).where(alerts_table.c.id == alert_id)).first()
        if row is None:
            msg = f"no alert has the id {alert_id!r}"
            raise AlertNotFoundError(msg)
        return _alert(row)

    def get(self, alert_id: str) -> Alert:
        """One alert; `AlertNotFoundError` when there is none with this id."""
        with self.engine.connect() as conn:
            return self._get(conn, alert_id)

    def list_alerts(self, *, status: str | None = None, limit: int = 100) -> list[Alert]:
        """Alerts, open ones first, then the most recently detected."""
        table = alerts_table.c
        query = sa.select(alerts_table).order_by(
            sa.case((table.status == OPEN, 0), else_=1), table.detected_at.desc(), table.id
        )
        if status is not None:
            query = query.where(table.status == status)
        with self.engine.connect() as conn:
            return [_alert(row) for row in conn.execute(query.limit(limit))]

    def deliveries(self, alert_id: str) -> list[Delivery]:
        """The alert's deliveries (and dashboard records), oldest first."""
        table = deliveries_table.c
        query = sa.select(deliveries_table).where(table.alert_id == alert_id).order_by(table.created_at, table.id)
        with self.engine.connect() as conn:
            return [delivery_from_row(row) for row in conn.execute(query)]

    # Supervisors.

    def resolve(self, alert_id: str) -> AlertChange:
        """A supervisor resolves an open alert (its notice is switched off); announced as `alert.resolved`."""
        now = utc(self.clock())
        with self._write(self.get(alert_id).topic) as conn:
            alert = self._get(conn, alert_id)
            if alert.status != OPEN:
                msg = f"alert {alert_id!r} is {alert.status} already"
                raise AlertConflictError(msg)
            conn.execute(
                sa.update(alerts_table)
                .where(alerts_table.c.id == alert_id)
                .values(status=CLOSED, resolved_at=now, updated_at=now, notice_active=False)
            )
            change = self._announce(conn, RESOLVED, alert_id, now)
        self._changed(change)
        return change

    def set_notice(self, alert_id: str, text: str | None, active: bool) -> Alert:
        """Set the proactive web-chat notice of an open alert and switch it on or off; the text is needed
        (1 to `NOTICE_MAX_CHARS` characters) to switch it on, and kept when it is switched off."""
        clean = " ".join(text.split()) if text is not None else None
        if active and not clean:
            msg = "a notice needs a text to be switched on"
            raise ValueError(msg)
        if clean is not None and len(clean) > NOTICE_MAX_CHARS:
            msg = f"a notice is at most {NOTICE_MAX_CHARS} characters, got {len(clean)}"
            raise ValueError(msg)
        with self._write() as conn:
            alert = self._get(conn, alert_id)
            if alert.status != OPEN:
                msg = f"alert {alert_id!r} is {alert.status}: a notice can only be set on an open alert"
                raise AlertConflictError(msg)
            values: dict[str, Any] = {"notice_active": active, "updated_at": utc(self.clock())}
            if clean:
                values["notice"] = clean
            conn.execute(sa.update(alerts_table).where(alerts_table.c.id == alert_id).values(**values))
            return dataclasses.replace(alert, **values)

    def active_notices(self) -> dict[str, str]:
        """The notices switched on for open alerts, by topic (for the web chat to show customers asking about
        one of these topics)."""
        table = alerts_table.c
        query = sa.select(table.topic, table.notice).where(
            table.status == OPEN, table.notice_active.is_(True), table.notice.is_not(None)
        )
        with self.engine.connect() as conn:
            return {row.topic: row.notice for row in conn.execute(query.order_by(table.detected_at))}
