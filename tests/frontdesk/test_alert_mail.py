"""Alert e-mails to supervisors through a real SMTP server on 127.0.0.1 (aiosmtpd): what they say, and that a
relay outage delays them without losing them."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from fakes.smtp import SmtpSink

from analytics.alerts import AlertStore
from analytics.surges import Surge
from analytics.webhooks import AlertDeliveryWorker, RetryPolicy
from channels.email import SmtpSettings
from frontdesk import db
from frontdesk.alert_mail import SmtpAlertMailer, build_alert_mailer
from frontdesk.settings import Settings

T0 = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
FAST = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.02, jitter=0.0)
SUPERVISORS = ["lead@support.example", "ops@support.example"]


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> sa.Engine:
    engine = db.create_engine(f"sqlite:///{tmp_path / 'alerts.db'}")
    db.upgrade(engine)
    return engine


def surge(ended: bool = False) -> Surge:
    return Surge(
        topic="payment_failed",
        label="Card payments fail at checkout",
        started_at=T0,
        detected_at=T0 + dt.timedelta(minutes=25),
        messages=42,
        customers=31,
        expected=4.5,
        channels={"webchat": 30, "whatsapp": 12},
        examples=("my card was declined twice", "checkout says payment failed"),
        ended=ended,
    )


def mailer(port: int) -> SmtpAlertMailer:
    smtp = SmtpSettings(host="127.0.0.1", port=port, security="none", timeout=5)
    return SmtpAlertMailer(smtp, "alerts@support.example", sender_name="Support alerts")


async def settle(worker: AlertDeliveryWorker) -> None:
    for _ in range(20):
        await worker.deliver_due()
        if worker.next_due() is None:
            return
    pytest.fail("the e-mails did not settle")


async def test_supervisors_get_an_email_with_topic_counts_channels_and_examples(sqlite_engine: sa.Engine) -> None:
    store = AlertStore(sqlite_engine, emails=SUPERVISORS, dashboard_url="https://support.example/dashboard")
    change = store.apply(surge())
    assert change is not None
    async with SmtpSink() as sink:
        await settle(AlertDeliveryWorker(sqlite_engine, mailer=mailer(sink.port), retry=FAST))
    assert sorted(rcpt for mail in sink.received for rcpt in mail.rcpt_tos) == SUPERVISORS
    mail = sink.received[0].mime
    assert mail["Subject"] == "[Frontdesk] Emerging issue: Card payments fail at checkout"
    assert mail["From"] == "Support alerts <alerts@support.example>" and mail["Auto-Submitted"] == "auto-generated"
    ids = {m.mime["Message-ID"] for m in sink.received}
    assert len(ids) == len(sink.received)  # random (secrets), no time or process id as make_msgid has
    assert all(re.fullmatch(r"<[a-z2-7]{32}@support\.example>", i) for i in ids), ids
    text = mail.get_content()
    assert "Topic: payment_failed" in text
    assert "Since: 2026-11-30 09:00 UTC (detected 2026-11-30 09:25 UTC)" in text
    assert "Messages: 42 where about 4.5 were expected" in text and "Customers: 31" in text
    assert "Channels: webchat (30), whatsapp (12)" in text
    assert "  - my card was declined twice" in text and "  - checkout says payment failed" in text
    assert "Dashboard: https://support.example/dashboard" in text
    assert {d.status for d in store.deliveries(change.alert.id) if d.target == "email"} == {"sent"}

    resolved = store.apply(surge(ended=True))
    assert resolved is not None
    async with SmtpSink() as sink:
        await settle(AlertDeliveryWorker(sqlite_engine, mailer=mailer(sink.port), retry=FAST))
    assert sink.received[0].mime["Subject"].startswith("[Frontdesk] Resolved: ")
    assert "Resolved: 2026-11-30 09:25 UTC" in sink.received[0].mime.get_content()


async def test_a_relay_outage_delays_the_email_and_a_refusal_fails_it(sqlite_engine: sa.Engine) -> None:
    store = AlertStore(sqlite_engine, emails=SUPERVISORS)
    change = store.apply(surge())
    assert change is not None
    async with SmtpSink() as sink:
        port = sink.port
    worker = AlertDeliveryWorker(sqlite_engine, mailer=mailer(port), retry=RetryPolicy(base_delay=0.01, jitter=0.0))
    await worker.deliver_due()  # the relay is down
    rows = [d for d in store.deliveries(change.alert.id) if d.target == "email"]
    assert {d.status for d in rows} == {"pending"} and all(d.last_error for d in rows)
    sink = SmtpSink()
    sink.refuse["ops@support.example"] = "550 5.1.1 no such mailbox"
    await sink.start()
    try:
        await settle(AlertDeliveryWorker(sqlite_engine, mailer=mailer(sink.port), retry=FAST))
    finally:
        await sink.stop()
    rows = {d.destination: d for d in store.deliveries(change.alert.id) if d.target == "email"}
    assert (rows["lead@support.example"].status, rows["lead@support.example"].attempts) == ("sent", 2)
    assert rows["ops@support.example"].status == "failed" and "550" in (rows["ops@support.example"].last_error or "")
    assert [mail.rcpt_tos for mail in sink.received] == [["lead@support.example"]]


def test_the_mailer_is_built_from_the_smtp_settings(tmp_path: Path) -> None:
    base = {"_env_file": None, "data_dir": tmp_path}
    assert build_alert_mailer(Settings(**base)) is None  # type: ignore[arg-type]
    settings = Settings(  # type: ignore[arg-type]
        **base,
        smtp_host="127.0.0.1",
        smtp_port=2526,
        smtp_security="none",
        email_from="help@support.example",
        alert_emails="lead@support.example, ops@support.example",
    )
    built = build_alert_mailer(settings)
    assert built is not None and built.smtp.effective_port == 2526 and built.sender == "help@support.example"
    assert settings.alert_email_list == ("lead@support.example", "ops@support.example")
    with pytest.raises(ValueError, match="FRONTDESK_SMTP_HOST"):
        Settings(**base, alert_emails="lead@support.example")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="FRONTDESK_ALERT_WEBHOOK_SECRET"):
        Settings(**base, alert_webhook_urls="https://hooks.example/a")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="placeholder"):
        Settings(**base, alert_webhook_urls="https://hooks.example/a", alert_webhook_secret="changeme")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="too short"):
        Settings(**base, alert_webhook_urls="https://hooks.example/a", alert_webhook_secret="short")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ftp://hooks"):
        Settings(**base, alert_webhook_urls="ftp://hooks", alert_webhook_secret="x" * 32)  # type: ignore[arg-type]
    good = Settings(
        **base, alert_webhook_urls="https://a.example/h, https://b.example/h", alert_webhook_secret="x" * 32
    )  # type: ignore[arg-type]
    assert good.alert_webhook_url_list == ("https://a.example/h", "https://b.example/h")
