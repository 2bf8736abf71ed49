"""Alert webhooks against a real HTTP receiver on 127.0.0.1 (aiohttp): signed, retried with the same delivery
id and body, stopped by 410, resumed after a restart, claimed once when two workers run."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import anyio
import pytest
import sqlalchemy as sa
from aiohttp import web

from analytics.alerts import AlertStore, Delivery
from analytics.surges import Surge
from analytics.tables import alerts_table, deliveries_table
from analytics.webhooks import (
    AlertDeliveryWorker,
    MailRejectedError,
    RetryPolicy,
    masked_error,
    masked_url,
    sign,
    verify_signature,
)
from frontdesk import db

SECRET = "whsec-test-0123456789abcdef"
FAST = RetryPolicy(max_attempts=5, base_delay=0.01, max_delay=0.05, jitter=0.0)
T0 = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)


@dataclass
class Hit:
    headers: dict[str, str]
    body: bytes
    verified: bool


@dataclass
class Receiver:
    """Answers with the scripted statuses in turn (then 200), after `delay` seconds; records every request."""

    script: list[int] = field(default_factory=list)
    delay: float = 0.0
    hits: list[Hit] = field(default_factory=list)
    port: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        verified = verify_signature(SECRET, request.headers.get("Frontdesk-Signature"), body)
        self.hits.append(Hit(dict(request.headers), body, verified))
        if self.delay:
            await anyio.sleep(self.delay)
        if not verified:
            return web.Response(status=401, text="bad signature")
        code = self.script.pop(0) if self.script else 200
        return web.Response(status=code, text="ok" if code < 300 else "not now")

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/{name}", rec.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.port = runner.addresses[0][1]
    yield rec
    await runner.cleanup()


def clear(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.delete(deliveries_table))
        conn.execute(sa.delete(alerts_table))


@pytest.fixture
def db_engine(engine: sa.Engine) -> Iterator[sa.Engine]:
    clear(engine)
    yield engine
    clear(engine)


def surge(topic: str = "payment_failed") -> Surge:
    return Surge(
        topic=topic,
        label="Card payments fail",
        started_at=T0,
        detected_at=T0 + dt.timedelta(minutes=20),
        messages=12,
        customers=9,
        expected=3.0,
        channels={"webchat": 8, "whatsapp": 4},
        examples=("my card was declined",),
    )


def sent(store: AlertStore, alert_id: str) -> list[Delivery]:
    return [d for d in store.deliveries(alert_id) if d.target != "dashboard"]


async def deliver_until_settled(worker: AlertDeliveryWorker, rounds: int = 40) -> None:
    for _ in range(rounds):
        await worker.deliver_due()
        due = await anyio.to_thread.run_sync(worker.next_due)
        if due is None:
            return
        await anyio.sleep(0.02)
    pytest.fail("the deliveries did not settle")


async def test_retries_keep_the_delivery_id_and_body_and_every_request_is_signed(
    db_engine: sa.Engine, receiver: Receiver
) -> None:
    store = AlertStore(db_engine, webhook_urls=[receiver.url()], dashboard_url="https://support.example/dashboard")
    change = store.apply(surge())
    assert change is not None
    receiver.script = [503, 503]
    worker = AlertDeliveryWorker(db_engine, webhook_secret=SECRET, retry=FAST)
    await deliver_until_settled(worker)
    assert len(receiver.hits) == 3 and all(hit.verified for hit in receiver.hits)
    assert {hit.headers["Frontdesk-Delivery"] for hit in receiver.hits} == {change.deliveries[0]}
    assert {hit.headers["Frontdesk-Event"] for hit in receiver.hits} == {"alert.opened"}
    assert len({hit.body for hit in receiver.hits}) == 1, "the body is the same bytes on every attempt"
    body = json.loads(receiver.hits[0].body)
    assert body["id"] == change.deliveries[0] and body["event"] == "alert.opened"
    assert body["alert"]["channels"] == {"webchat": 8, "whatsapp": 4} and body["alert"]["customers"] == 9
    assert body["dashboard_url"] == "https://support.example/dashboard"
    [row] = sent(store, change.alert.id)
    assert (row.status, row.attempts, row.last_error) == ("sent", 3, None) and row.sent_at is not None


def test_verify_signature_refuses_tampering_old_requests_and_wrong_secrets() -> None:
    body = b'{"event":"alert.opened","id":"d1"}'
    now = time.time()
    header = sign(SECRET, body, timestamp=int(now))
    assert verify_signature(SECRET, header, body)
    assert verify_signature(SECRET, header, body.decode()), "the body may be given as text"
    assert not verify_signature(SECRET, header, body.replace(b"opened", b"closed")), "tampered body"
    assert not verify_signature("another-secret-0123456789", header, body), "wrong secret"
    old = sign(SECRET, body, timestamp=int(now) - 301)
    assert not verify_signature(SECRET, old, body), "older than the tolerance"
    assert verify_signature(SECRET, old, body, tolerance=600)
    assert not verify_signature(SECRET, sign(SECRET, body, timestamp=int(now) + 400), body), "from the future"
    forged_time = header.replace(f"t={int(now)}", f"t={int(now) - 1}")
    assert not verify_signature(SECRET, forged_time, body), "the timestamp is signed too"
    rotated = f"{header},v1={'0' * 64}"
    assert verify_signature(SECRET, rotated, body), "any of several v1 signatures may match"
    for garbage in (None, "", "v1=abc", f"t={int(now)}", "t=x,v1=y", "nonsense"):
        assert not verify_signature(SECRET, garbage, body)


async def test_410_stops_and_other_4xx_fail_without_retry(db_engine: sa.Engine, receiver: Receiver) -> None:
    store = AlertStore(db_engine, webhook_urls=[receiver.url("/gone"), receiver.url("/bad")])
    change = store.apply(surge())
    assert change is not None
    receiver.script = [410, 400]
    worker = AlertDeliveryWorker(db_engine, webhook_secret=SECRET, retry=FAST)
    await deliver_until_settled(worker)
    assert len(receiver.hits) == 2, "no second attempt for either"
    rows = sent(store, change.alert.id)
    assert [(r.status, r.attempts) for r in rows] == [("failed", 1), ("failed", 1)]
    errors = sorted(r.last_error or "" for r in rows)
    assert errors[0].startswith("HTTP 400") and "410" in errors[1] and "asked to stop" in errors[1]


async def test_429_timeouts_and_refused_connections_are_retried_until_max_attempts(
    db_engine: sa.Engine, receiver: Receiver
) -> None:
    closed = AlertStore(db_engine, webhook_urls=["http://127.0.0.1:9/hook"]).apply(surge("refused"))
    throttled = AlertStore(db_engine, webhook_urls=[receiver.url("/throttled")]).apply(surge("throttled"))
    assert closed and throttled
    receiver.script = [429]
    retry = dataclasses.replace(FAST, max_attempts=3)
    worker = AlertDeliveryWorker(db_engine, webhook_secret=SECRET, retry=retry, timeout=0.5, lease=5)
    await deliver_until_settled(worker)
    store = AlertStore(db_engine)
    [refused] = sent(store, closed.alert.id)
    assert (refused.status, refused.attempts) == ("failed", 3) and "Connect" in (refused.last_error or "")
    [ok] = sent(store, throttled.alert.id)
    assert (ok.status, ok.attempts) == ("sent", 2)

    slow = AlertStore(db_engine, webhook_urls=[receiver.url("/slow")]).apply(surge("slow"))
    assert slow is not None
    receiver.delay = 0.5
    worker = AlertDeliveryWorker(db_engine, webhook_secret=SECRET, retry=RetryPolicy(base_delay=60), timeout=0.1)
    await worker.deliver_due()
    [waiting] = sent(store, slow.alert.id)
    assert waiting.status == "pending" and "timed out" in (waiting.last_error or "")
    assert waiting.next_attempt_at > dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30), "backoff before the retry"


async def test_a_new_worker_resumes_after_a_restart_and_after_a_crash_mid_send(
    db_engine: sa.Engine, receiver: Receiver
) -> None:
    url = db_engine.url.render_as_string(hide_password=False)
    first_engine = db.create_engine(url)
    store = AlertStore(first_engine, webhook_urls=[receiver.url("/a")])
    failed_once = store.apply(surge("outage"))
    assert failed_once is not None
    receiver.script = [503]
    later = RetryPolicy(base_delay=0.4, max_delay=0.4, jitter=0.0)
    await AlertDeliveryWorker(first_engine, webhook_secret=SECRET, retry=later).deliver_due()
    crashed = store.apply(surge("crash"))
    assert crashed is not None
    dying = AlertDeliveryWorker(first_engine, webhook_secret=SECRET, retry=FAST, timeout=0.1, lease=0.3)
    claimed = await anyio.to_thread.run_sync(dying.claim_due)
    assert [d.id for d in claimed] == [crashed.deliveries[0]], "the retry of the first is not due yet"
    first_engine.dispose()  # the process is gone: one delivery waits for its retry, one was mid-send

    await anyio.sleep(0.45)  # the retry is due and the lease has run out
    second_engine = db.create_engine(url)
    await deliver_until_settled(AlertDeliveryWorker(second_engine, webhook_secret=SECRET, retry=FAST))
    second_engine.dispose()
    ids = [hit.headers["Frontdesk-Delivery"] for hit in receiver.hits]
    assert ids.count(failed_once.deliveries[0]) == 2 and ids.count(crashed.deliveries[0]) == 1
    store = AlertStore(db_engine)
    assert [d.status for d in sent(store, failed_once.alert.id)] == ["sent"]
    assert [(d.status, d.attempts) for d in sent(store, crashed.alert.id)] == [("sent", 2)]


async def test_two_workers_share_the_work_without_sending_anything_twice(
    db_engine: sa.Engine, receiver: Receiver
) -> None:
    store = AlertStore(db_engine, webhook_urls=[receiver.url(f"/r{n}") for n in range(4)])
    expected = set()
    for n in range(6):
        change = store.apply(surge(f"topic-{n}"))
        assert change is not None
        expected |= set(change.deliveries)
    receiver.delay = 0.05  # small batches of slow answers: both workers are claiming while the other sends
    url = db_engine.url.render_as_string(hide_password=False)
    engines = [db.create_engine(url) for _ in range(2)]
    workers = [AlertDeliveryWorker(e, webhook_secret=SECRET, retry=FAST, batch_size=3) for e in engines]
    handled: list[int] = []

    async def work(worker: AlertDeliveryWorker) -> None:
        handled.append(await worker.deliver_due())

    async with anyio.create_task_group() as group:
        for worker in workers:
            group.start_soon(work, worker)
    for engine in engines:
        engine.dispose()
    ids = [hit.headers["Frontdesk-Delivery"] for hit in receiver.hits]
    assert len(ids) == len(expected) == 24 and set(ids) == expected, "each delivery exactly once"
    assert sum(handled) == 24 and min(handled) > 0, f"both workers took part: {handled}"


async def test_the_running_worker_wakes_when_an_alert_is_enqueued(db_engine: sa.Engine, receiver: Receiver) -> None:
    worker = AlertDeliveryWorker(db_engine, webhook_secret=SECRET, retry=FAST, poll_interval=30)
    store = AlertStore(db_engine, webhook_urls=[receiver.url()], on_change=worker.notify)
    async with anyio.create_task_group() as group:
        group.start_soon(worker.run)
        await anyio.sleep(0.2)  # the worker found nothing and sleeps for 30 s
        started = time.monotonic()
        await anyio.to_thread.run_sync(store.apply, surge())
        with anyio.fail_after(5):
            while not receiver.hits:
                await anyio.sleep(0.01)
        group.cancel_scope.cancel()
    assert time.monotonic() - started < 5 and receiver.hits[0].verified


@dataclass
class Mailbox:
    """An in-process `AlertMailer`: raises the errors scripted for an address in turn, then keeps the mail."""

    errors: dict[str, list[Exception]] = field(default_factory=dict)
    mails: list[tuple[str, str, str]] = field(default_factory=list)

    async def send(self, to: str, subject: str, text: str) -> None:
        if self.errors.get(to):
            raise self.errors[to].pop(0)
        self.mails.append((to, subject, text))


async def test_email_deliveries_retry_passing_failures_and_stop_on_rejection(db_engine: sa.Engine) -> None:
    store = AlertStore(db_engine, emails=["lead@support.example", "gone@support.example"])
    change = store.apply(surge())
    assert change is not None
    mailbox = Mailbox(
        errors={
            "lead@support.example": [OSError("relay down")],
            "gone@support.example": [MailRejectedError("550 no such user")],
        }
    )
    await deliver_until_settled(AlertDeliveryWorker(db_engine, mailer=mailbox, retry=FAST))
    rows = {d.destination: d for d in sent(store, change.alert.id)}
    assert (rows["lead@support.example"].status, rows["lead@support.example"].attempts) == ("sent", 2)
    assert rows["gone@support.example"].status == "failed" and "550" in (rows["gone@support.example"].last_error or "")
    assert [to for to, _, _ in mailbox.mails] == ["lead@support.example"]
    assert "Card payments fail" in mailbox.mails[0][1]


def test_worker_arguments_are_checked(db_engine: sa.Engine) -> None:
    with pytest.raises(ValueError, match="lease > timeout"):
        AlertDeliveryWorker(db_engine, timeout=10, lease=5)


def test_webhook_urls_are_masked_for_people() -> None:
    assert masked_url("https://hooks.slack.example/services/T0/B0/secret") == "https://hooks.slack.example/…"
    assert masked_url("https://user:pw@example.com:8443/?token=x") == "https://example.com:8443/…"
    assert masked_url("http://[::1]:9000") == "http://[::1]:9000/"
    assert masked_url("https://example.com/") == "https://example.com/"
    assert masked_url("not a url") == masked_url("https://example.com:99999/x") == "(an unreadable URL)"
    url = "https://hooks.example/a/secret?sig=abc"
    assert masked_error(f"POST {url} failed", url) == "POST https://hooks.example/… failed"
    assert masked_error("HTTP 500 at /a/secret?sig=abc", url) == "HTTP 500 at /…"
    assert masked_error(None, url) is None
    broken = "http://[oops/hook-token"
    assert masked_error(f"POST {broken} failed", broken) == "POST (an unreadable URL) failed"
