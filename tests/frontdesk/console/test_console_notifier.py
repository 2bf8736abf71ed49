"""Offer e-mails: a real SMTP server on 127.0.0.1 (aiosmtpd) receives them; a busy relay is retried; a
relay that is down never slows routing down. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
import sqlalchemy as sa
from conftest import build_test_runtime
from fakes.network import free_port
from fakes.smtp import SmtpSink

from agent.agent import SupportAgent
from channels.email import SmtpSettings
from conversations.handoff import RoutingEvents
from frontdesk.api.console_deps import build_console
from frontdesk.console.notifier import OfferMailer
from frontdesk.settings import Settings
from knowledge.base import KnowledgeBase
from routing import AgentStatus, ChannelKind, EscalationRequest, HumanAgent, Router, RoutingConfig


def _router(engine: sa.Engine) -> tuple[Router, RoutingEvents]:
    events = RoutingEvents()
    router = Router(engine, RoutingConfig(offer_timeout_seconds=45), listener=events)
    router.upsert_agent(
        HumanAgent(
            id="ana",
            name="Ana Lopez",
            email="ana@support.example",
            languages=("en",),
            capacity={ChannelKind.CHAT: 2},
            status=AgentStatus.ONLINE,
        )
    )
    return router, events


def _mailer(router: Router, events: RoutingEvents, port: int) -> OfferMailer:
    smtp = SmtpSettings(host="127.0.0.1", port=port, security="none", timeout=2)
    mailer = OfferMailer(
        router, smtp, "support@shop.example", console_url="https://support.shop.example/console", retry_seconds=0.05
    )
    events.subscribe(mailer.on_event)
    return mailer


def _escalate(router: Router, conversation_id: str) -> None:
    router.escalate(
        EscalationRequest(
            conversation_id=conversation_id,
            channel="webchat",
            reason="customer_asked_for_human",
            summary="First asked: where is my refund?",
        )
    )


async def _until(what: str, check: Callable[[], object], timeout: float = 15) -> None:
    with anyio.fail_after(timeout):
        while not check():
            await anyio.sleep(0.05)
    assert check(), what


async def test_an_offer_is_mailed_to_the_agent(engine: sa.Engine) -> None:
    router, events = _router(engine)
    async with SmtpSink() as sink, anyio.create_task_group() as group:
        mailer = _mailer(router, events, sink.port)
        group.start_soon(mailer.run)
        await anyio.to_thread.run_sync(_escalate, router, "c-mail")
        await _until("the offer e-mail", lambda: sink.received)
        group.cancel_scope.cancel()
    [mail] = sink.received
    assert mail.rcpt_tos == ["ana@support.example"] and mail.mail_from == "support@shop.example"
    assert mail.mime["Subject"] == "New conversation for you: webchat, customer asked for human"
    assert re.fullmatch(r"<[a-z2-7]{32}@shop\.example>", mail.mime["Message-ID"])  # random, from `secrets`
    body = mail.mime.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert "Hello Ana," in text and "within 45 seconds" in text
    assert "where is my refund?" in text and "https://support.shop.example/console" in text
    assert mailer.sent == 1 and mailer.failed_attempts == 0


async def test_a_busy_relay_is_retried(engine: sa.Engine) -> None:
    router, events = _router(engine)
    async with SmtpSink() as sink, anyio.create_task_group() as group:
        sink.data_reply = "451 4.3.0 busy, try later"
        mailer = _mailer(router, events, sink.port)
        mailer.retry_seconds = 0.5
        group.start_soon(mailer.run)
        await anyio.to_thread.run_sync(_escalate, router, "c-busy")
        await _until("a refused first attempt", lambda: mailer.failed_attempts >= 1)
        assert sink.received == []
        sink.data_reply = None
        await _until("the e-mail after the retry", lambda: sink.received)
        group.cancel_scope.cancel()
    assert mailer.sent == 1 and len(sink.received) == 1


async def test_a_relay_that_is_down_never_slows_routing(engine: sa.Engine) -> None:
    router, events = _router(engine)
    mailer = _mailer(router, events, free_port())  # nothing listens there
    async with anyio.create_task_group() as group:
        group.start_soon(mailer.run)
        started = time.monotonic()
        await anyio.to_thread.run_sync(_escalate, router, "c-down")
        assert time.monotonic() - started < 2, "escalating and offering does not wait for the relay"
        assert [offer.agent_id for offer in router.offers()] == ["ana"]
        await _until("the mailer giving up", lambda: mailer.given_up == 1)
        group.cancel_scope.cancel()
    assert mailer.sent == 0 and mailer.failed_attempts == 3


def test_a_mailer_needs_sane_settings(engine: sa.Engine) -> None:
    router, _ = _router(engine)
    smtp = SmtpSettings(host="127.0.0.1", port=25, security="none")
    with pytest.raises(ValueError, match="attempts >= 1"):
        OfferMailer(router, smtp, "support@shop.example", attempts=0)


def test_offer_emails_are_on_only_with_smtp_and_a_sender(
    engine: sa.Engine, demo_agent: SupportAgent, demo_knowledge: KnowledgeBase, tmp_path: Path
) -> None:
    base = {"_env_file": None, "data_dir": tmp_path / "data", "public_base_url": "https://support.shop.example"}
    without = build_console(build_test_runtime(Settings(**base), engine, demo_agent, demo_knowledge))  # type: ignore[arg-type]
    assert without is not None and without.mailer is None, "no SMTP configured: no e-mail"
    smtp = {"smtp_host": "127.0.0.1", "smtp_port": 2525, "smtp_security": "none", "email_from": "support@shop.example"}
    configured = build_console(build_test_runtime(Settings(**base, **smtp), engine, demo_agent, demo_knowledge))  # type: ignore[arg-type]
    assert configured is not None and configured.mailer is not None
    assert configured.mailer.console_url == "https://support.shop.example/console"
    off = Settings(**base, **smtp, console_offer_emails=False)  # type: ignore[arg-type]
    assert build_console(build_test_runtime(off, engine, demo_agent, demo_knowledge)).mailer is None  # type: ignore[union-attr]
