"""Alert deliveries: signed webhooks and supervisor e-mails, sent by a worker that retries with backoff.

A webhook is a POST of the delivery's JSON payload (the same bytes on every attempt) with these headers:

- `Frontdesk-Event: alert.opened` (or `alert.updated`, `alert.resolved`);
- `Frontdesk-Delivery: <delivery id>`: the same on every retry, so a receiver can drop repeats;
- `Frontdesk-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>`, checked by receivers
  with `verify_signature`.

Answers: 2xx = sent; 410 = the receiver wants no more, failed at once; another 4xx (but 408 and 429) =
failed at once, the request is wrong and would stay wrong; 408, 429, 5xx, timeouts and connection errors are
tried again after an exponentially growing, jittered delay (`RetryPolicy`), until `max_attempts`.

Claiming: a worker takes a due row with a conditional UPDATE (status `sending`, attempts + 1, a lease in
`next_attempt_at`), which only one of several processes can win on SQLite and PostgreSQL alike; a row whose
lease ran out (the worker died) is due again and keeps its delivery id. Outcomes are written only while the
row is still the worker's (same status and attempt count).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import logging
import random
import time
import urllib.parse
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import anyio
import httpx
import sqlalchemy as sa

from analytics.alerts import DASHBOARD, EMAIL, FAILED, PENDING, SENDING, SENT, WEBHOOK, Delivery, delivery_from_row
from analytics.events import utc
from analytics.tables import deliveries_table

logger = logging.getLogger(__name__)

SIGNATURE_HEADER, DELIVERY_HEADER, EVENT_HEADER = "Frontdesk-Signature", "Frontdesk-Delivery", "Frontdesk-Event"


def webhook_body(payload: Mapping[str, Any]) -> bytes:
    """The bytes POSTed for a payload: canonical JSON, identical on every attempt."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def masked_url(url: str) -> str:
    """A webhook URL as shown to people: scheme, host and port only. The rest (path, query, user info) often
    is the secret itself (chat-tool webhooks put their token in the path), so it shows as "…"."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        return "(an unreadable URL)"
    if not parts.scheme or not parts.hostname:
        return "(an unreadable URL)"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    shown = f"{parts.scheme}://{host}{f':{port}' if port else ''}/"
    hidden = parts.path not in ("", "/") or parts.query or parts.fragment or parts.username
    return shown + "…" if hidden else shown


def masked_error(error: str | None, url: str) -> str | None:
    """A delivery error with the webhook's URL (which errors may quote) masked."""
    if error is None:
        return None
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:  # unreadable (settings let "http://[oops" through): only the whole URL can be found
        return error.replace(url, masked_url(url)) if url else error
    secret = [url, parts.path + (f"?{parts.query}" if parts.query else "")]
    for text in sorted((t for t in secret if t not in ("", "/")), key=len, reverse=True):
        error = error.replace(text, masked_url(url) if text == url else "/…")
    return error


def _digest(secret: str | bytes, timestamp: int, body: bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str | bytes, body: bytes, *, timestamp: int | None = None) -> str:
    """The `Frontdesk-Signature` header value for `body` at `timestamp` (default: now)."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={_digest(secret, t, body)}"


def verify_signature(
    secret: str | bytes, header: str | None, body: bytes | str, tolerance: float = 300, *, now: float | None = None
) -> bool:
    """Whether `header` (the `Frontdesk-Signature` value) signs exactly `body` (the raw request bytes) with
    `secret`, at a time at most `tolerance` seconds from now (an old request replayed is refused). Several
    `v1=` values (during a secret rotation) pass when any matches."""
    if not header:
        return False
    raw = body.encode() if isinstance(body, str) else body
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = _digest(secret, timestamp, raw)
    return any(hmac.compare_digest(expected, given) for given in signatures)


class AlertMailer(Protocol):
    """Sends a plain-text e-mail; raises `MailRejectedError` when the address is refused for good, any
    other exception for a failure worth retrying."""

    async def send(self, to: str, subject: str, text: str) -> None: ...


class MailRejectedError(Exception):
    """The relay refused the recipient or the message for good: no retry."""


def _when(value: str | None) -> str:
    if not value:
        return "unknown"
    return dt.datetime.fromisoformat(value).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def alert_email(payload: Mapping[str, Any]) -> tuple[str, str]:
    """The subject and text of the supervisors' e-mail about one delivery's payload."""
    alert, event = payload["alert"], payload["event"]
    label = " ".join(str(alert["label"]).split())[:150]  # a header takes no line breaks
    headline = {
        "alert.opened": ("Emerging issue", f"An emerging issue was detected: {label}."),
        "alert.updated": ("Emerging issue growing", f"The emerging issue \u201c{label}\u201d keeps growing."),
        "alert.resolved": ("Resolved", f"The issue \u201c{label}\u201d is resolved."),
    }.get(event, ("Alert", f"Alert about {label}."))
    channels = sorted(alert.get("channels", {}).items(), key=lambda item: (-item[1], item[0]))
    lines = [
        headline[1],
        "",
        f"Topic: {alert['topic']}",
        f"Since: {_when(alert['started_at'])} (detected {_when(alert['detected_at'])})",
        f"Messages: {alert['messages']} where about {alert['expected']:.1f} were expected",
        f"Customers: {alert['customers']}",
        "Channels: " + (", ".join(f"{name} ({count})" for name, count in channels) or "none recorded"),
    ]
    if alert.get("resolved_at"):
        lines.append(f"Resolved: {_when(alert['resolved_at'])}")
    if alert.get("examples"):
        lines += ["", "Example messages:"] + [f"  - {example}" for example in alert["examples"][:5]]
    if payload.get("dashboard_url"):
        lines += ["", f"Dashboard: {payload['dashboard_url']}"]
    return f"[Frontdesk] {headline[0]}: {label}", "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how soon a failing delivery is tried again."""

    max_attempts: int = 10
    base_delay: float = 5.0
    max_delay: float = 3600.0
    jitter: float = 0.2

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failed attempt."""
        raw = min(self.max_delay, self.base_delay * 2 ** max(0, attempts - 1))
        return raw * (1 + random.uniform(-self.jitter, self.jitter))


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt came to: sent, or an error that is retried (after at least `retry_after`) or not."""

    sent: bool
    error: str | None = None
    retry: bool = False
    retry_after: float | None = None


def webhook_outcome(response: httpx.Response) -> Outcome:
    """Classify a receiver's answer (see the module docstring)."""
    code = response.status_code
    if 200 <= code < 300:
        return Outcome(sent=True)
    reason = f"HTTP {code} {response.reason_phrase}: {response.text[:200]}".strip()
    if code == 410:
        return Outcome(sent=False, error=f"{reason} (the receiver asked to stop)")
    if code in (408, 429) or code >= 500:
        after = response.headers.get("retry-after", "")
        return Outcome(sent=False, error=reason, retry=True, retry_after=float(after) if after.isdigit() else None)
    return Outcome(sent=False, error=reason)


class AlertDeliveryWorker:
    """Sends due alert deliveries (webhooks with `webhook_secret`, e-mails through `mailer`); wakes when
    told (`notify`) or when the next retry is due. Several processes may run one each."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        webhook_secret: str | None = None,
        mailer: AlertMailer | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 10.0,
        lease: float = 60.0,
        poll_interval: float = 5.0,
        concurrency: int = 4,
        batch_size: int = 20,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if timeout <= 0 or lease <= timeout or poll_interval <= 0 or concurrency < 1 or batch_size < 1:
            msg = "need timeout > 0, lease > timeout, poll_interval > 0, concurrency >= 1, batch_size >= 1; got "
            msg += f"{timeout}, {lease}, {poll_interval}, {concurrency}, {batch_size}"
            raise ValueError(msg)
        self.engine = engine
        self.webhook_secret = webhook_secret
        self.mailer = mailer
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.lease = dt.timedelta(seconds=lease)
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self._client = client
        self._limiter = anyio.CapacityLimiter(concurrency)
        self._wake = anyio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def notify(self, *_: object) -> None:
        """Something was enqueued: look now (safe from any thread; usable as `AlertStore.on_change`)."""
        loop = self._loop
        if loop is None or not loop.is_running():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        """Deliver until cancelled; database errors are logged and retried at the next poll, never fatal."""
        self._loop = asyncio.get_running_loop()
        self._wake = anyio.Event()  # bound to this run's event loop (a service may be started again)
        self._limiter = anyio.CapacityLimiter(self._limiter.total_tokens)
        given = self._client
        async with self._http() as client:
            self._client = client
            try:
                while True:
                    wait = self.poll_interval
                    try:
                        await self.deliver_due()
                        due = await anyio.to_thread.run_sync(self.next_due)
                        if due is not None:
                            wait = max(0.05, min(wait, (due - dt.datetime.now(dt.UTC)).total_seconds()))
                    except Exception:  # a database outage or a bug: logged, tried again, never the service's end
                        logger.exception("alert deliveries failed; trying again in %.0f s", wait)
                    with anyio.move_on_after(wait):
                        await self._wake.wait()
                    self._wake = anyio.Event()
            finally:
                self._client = given

    @asynccontextmanager
    async def _http(self) -> AsyncIterator[httpx.AsyncClient]:
        if self._client is not None:
            yield self._client
            return
        async with httpx.AsyncClient(timeout=httpx.Timeout(self.timeout), follow_redirects=False) as client:
            yield client

    async def deliver_due(self) -> int:
        """Send every delivery due now; how many were handled (sent, rescheduled or failed)."""
        handled, start = 0, dt.datetime.now(dt.UTC)  # retries falling due meanwhile wait for the next call
        async with self._http() as client:
            while batch := await anyio.to_thread.run_sync(lambda: self.claim_due(self.batch_size, due_by=start)):
                async with anyio.create_task_group() as group:
                    for delivery in batch:
                        group.start_soon(self._deliver, client, delivery)
                handled += len(batch)
        return handled

    # The deliveries table.

    def _due(self, now: dt.datetime) -> sa.ColumnElement[bool]:
        table = deliveries_table.c
        return sa.and_(table.status.in_([PENDING, SENDING]), table.next_attempt_at <= now, table.target != DASHBOARD)

    def claim_due(self, limit: int = 20, *, due_by: dt.datetime | None = None) -> list[Delivery]:
        """Take up to `limit` deliveries due by `due_by` (default now) for one lease each; rows another process
        took meanwhile are skipped, and an empty list means nothing is due."""
        table = deliveries_table.c
        now = dt.datetime.now(dt.UTC)
        cutoff = min(now, due_by) if due_by is not None else now
        query = sa.select(table.id).where(self._due(cutoff)).order_by(table.next_attempt_at, table.id).limit(limit)
        claimed: list[Delivery] = []
        while not claimed:  # every candidate lost to another process: those are no longer due, look again
            with self.engine.connect() as conn:
                candidates = list(conn.execute(query).scalars())
            if not candidates:
                break
            for delivery_id in candidates:
                with self.engine.begin() as conn:
                    taken = conn.execute(
                        sa.update(deliveries_table)
                        .where(table.id == delivery_id, self._due(cutoff))
                        .values(status=SENDING, attempts=table.attempts + 1, next_attempt_at=now + self.lease)
                    ).rowcount
                    if taken == 1:
                        row = conn.execute(sa.select(deliveries_table).where(table.id == delivery_id)).one()
                        claimed.append(delivery_from_row(row))
        return claimed

    def next_due(self) -> dt.datetime | None:
        """When the earliest waiting delivery (or lease) falls due; None when nothing waits."""
        table = deliveries_table.c
        query = sa.select(sa.func.min(table.next_attempt_at)).where(
            table.status.in_([PENDING, SENDING]), table.target != DASHBOARD
        )
        with self.engine.connect() as conn:
            due = conn.execute(query).scalar_one_or_none()
        return utc(due) if due is not None else None

    def _record(self, delivery: Delivery, outcome: Outcome) -> None:
        now = dt.datetime.now(dt.UTC)
        values: dict[str, Any] = {"last_error": outcome.error[:2000] if outcome.error else None}
        if outcome.sent:
            values |= {"status": SENT, "sent_at": now}
        elif outcome.retry and delivery.attempts < self.retry.max_attempts:
            wait = max(self.retry.delay(delivery.attempts), min(outcome.retry_after or 0, self.retry.max_delay))
            values |= {"status": PENDING, "next_attempt_at": now + dt.timedelta(seconds=wait)}
        else:
            values |= {"status": FAILED}
        table = deliveries_table.c
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(deliveries_table)
                .where(table.id == delivery.id, table.status == SENDING, table.attempts == delivery.attempts)
                .values(**values)
            )

    # Sending.

    async def _deliver(self, client: httpx.AsyncClient, delivery: Delivery) -> None:
        async with self._limiter:
            if delivery.target == WEBHOOK:
                outcome = await self._post(client, delivery)
            elif delivery.target == EMAIL:
                outcome = await self._mail(delivery)
            else:
                outcome = Outcome(sent=False, error=f"unknown delivery target {delivery.target!r}")
        if not outcome.sent:
            what = f"{delivery.event} to {delivery.destination}"
            logger.warning(
                "alert delivery %s (%s), attempt %d: %s", delivery.id, what, delivery.attempts, outcome.error
            )
        try:
            await anyio.to_thread.run_sync(self._record, delivery, outcome)
        except sa.exc.SQLAlchemyError:  # not recorded: the lease runs out and the delivery is tried again
            logger.exception("the outcome of alert delivery %s could not be recorded", delivery.id)

    async def _post(self, client: httpx.AsyncClient, delivery: Delivery) -> Outcome:
        if not self.webhook_secret:
            return Outcome(sent=False, error="no webhook secret is configured (FRONTDESK_ALERT_WEBHOOK_SECRET)")
        body = webhook_body(delivery.payload)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Frontdesk-Alerts/1",
            EVENT_HEADER: delivery.event,
            DELIVERY_HEADER: delivery.id,
            SIGNATURE_HEADER: sign(self.webhook_secret, body),
        }
        try:
            response = await client.post(delivery.destination, content=body, headers=headers, timeout=self.timeout)
        except httpx.TimeoutException as exc:
            return Outcome(sent=False, error=f"timed out after {self.timeout:g} s ({type(exc).__name__})", retry=True)
        except httpx.TransportError as exc:
            return Outcome(sent=False, error=f"{type(exc).__name__}: {exc}", retry=True)
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:  # a URL no request can be made to
            return Outcome(sent=False, error=f"{type(exc).__name__}: {exc}")
        return webhook_outcome(response)

    async def _mail(self, delivery: Delivery) -> Outcome:
        if self.mailer is None:
            return Outcome(sent=False, error="no mailer is configured (FRONTDESK_SMTP_HOST, FRONTDESK_EMAIL_FROM)")
        subject, text = alert_email(delivery.payload)
        try:
            with anyio.fail_after(self.timeout * 4):
                await self.mailer.send(delivery.destination, subject, text)
        except MailRejectedError as exc:
            return Outcome(sent=False, error=str(exc))
        except Exception as exc:  # a relay outage or a mailer bug: recorded on the row and tried again
            return Outcome(sent=False, error=f"{type(exc).__name__}: {exc}", retry=True)
        return Outcome(sent=True)
