"""The inbound SMTP listener, with aiosmtplib as the sending server."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest
from fakes.smtp import self_signed_tls

from channels.email import (
    EmailChannel,
    SmtpListener,
    SmtpSettings,
    SupportMailbox,
    new_reply_token,
    read_inbound_email,
    reply_address,
    reply_key,
)
from channels.messages import OutboundMessage

BuildMail = Callable[..., EmailMessage]


@dataclass
class Store:
    """The deliver callback: keeps what it is given, or fails like a database that is down."""

    received: list[tuple[bytes, str, tuple[str, ...]]] = field(default_factory=list)
    peers: list[str] = field(default_factory=list)
    fail: bool = False

    async def __call__(self, raw: bytes, envelope_from: str, rcpt_tos: tuple[str, ...], peer: str) -> None:
        if self.fail:
            raise ConnectionError("database is down")
        self.received.append((raw, envelope_from, rcpt_tos))
        self.peers.append(peer)


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture
async def listener(mailbox: SupportMailbox, store: Store) -> AsyncIterator[SmtpListener]:
    async with SmtpListener(mailbox, store, port=0, max_bytes=20_000) as server:
        yield server


async def send(
    listener: SmtpListener,
    mail: EmailMessage | bytes,
    *,
    sender: str | None = None,
    recipients: list[str] | None = None,
) -> None:
    """Send like a customer's mail server (aiosmtplib) to the listener."""
    await aiosmtplib.send(
        mail,
        sender=sender,
        recipients=recipients,
        hostname="127.0.0.1",
        port=listener.port,
        start_tls=False,
        local_hostname="mx.customer.example",
    )


async def test_accepted_mail_reaches_the_callback_with_its_envelope(
    listener: SmtpListener, store: Store, build_mail: BuildMail, mailbox: SupportMailbox
) -> None:
    token = new_reply_token()
    bcc = reply_address(mailbox.address, token)
    mail = build_mail("Where is my order?")
    await send(listener, mail, sender="bounces+x@customer.example", recipients=["support@northwind.example", bcc])
    [(raw, envelope_from, rcpt_tos)] = store.received
    assert envelope_from == "bounces+x@customer.example"
    assert rcpt_tos == ("support@northwind.example", bcc)
    assert store.peers == ["127.0.0.1"], "the callback is told which SMTP client sent the mail"
    assert raw.startswith(b"Return-Path: <bounces+x@customer.example>\r\nDelivered-To: support@northwind.example\r\n")
    assert bytes(mail).replace(b"\r\n", b"\n") in raw.replace(b"\r\n", b"\n")
    inbound = read_inbound_email(raw, mailbox)
    assert inbound.answerable and inbound.message is not None
    assert inbound.message.text == "Where is my order?"
    assert inbound.message.thread_keys[0] == reply_key(token)  # the Bcc'd reply address was kept


async def test_a_failing_callback_answers_451_so_the_sender_retries(
    listener: SmtpListener, store: Store, build_mail: BuildMail, caplog: pytest.LogCaptureFixture
) -> None:
    store.fail = True
    with caplog.at_level(logging.ERROR), pytest.raises(aiosmtplib.SMTPDataError) as caught:
        await send(listener, build_mail())
    assert caught.value.code == 451 and "try again later" in caught.value.message
    assert "database is down" in caplog.text
    store.fail = False
    await send(listener, build_mail())
    assert len(store.received) == 1


async def test_other_domains_are_not_relayed(listener: SmtpListener, store: Store, build_mail: BuildMail) -> None:
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as caught:
        await send(listener, build_mail(to="someone@elsewhere.example"))
    assert caught.value.recipients[0].code == 550 and "relaying denied" in caught.value.recipients[0].message
    await send(listener, build_mail(), recipients=["someone@elsewhere.example", "HELP@help.northwind.example"])
    assert store.received[0][2] == ("HELP@help.northwind.example",)


async def test_too_big_is_552(listener: SmtpListener, store: Store, build_mail: BuildMail) -> None:
    with pytest.raises(aiosmtplib.SMTPResponseException) as caught:
        await send(listener, build_mail("x" * 30_000))
    assert caught.value.code == 552
    assert store.received == []


async def test_unparseable_mail_is_550_with_the_reason(listener: SmtpListener, store: Store) -> None:
    raw = b"To: support@northwind.example\r\nSubject: who am I\r\n\r\nHello\r\n"
    with pytest.raises(aiosmtplib.SMTPDataError) as caught:
        await send(listener, raw, sender="x@customer.example", recipients=["support@northwind.example"])
    assert caught.value.code == 550 and "no usable From" in caught.value.message
    assert store.received == []


async def test_a_bounce_is_stored_and_recognised(
    listener: SmtpListener, store: Store, build_mail: BuildMail, mailbox: SupportMailbox
) -> None:
    await send(listener, build_mail(sender="Mail System <bounces@mx.customer.example>"), sender="")
    [(raw, envelope_from, _)] = store.received
    assert envelope_from == ""
    assert read_inbound_email(raw, mailbox).ignore_reason == "bounce: empty return path"


async def test_start_and_stop(mailbox: SupportMailbox, store: Store, build_mail: BuildMail) -> None:
    listener = SmtpListener(mailbox, store, port=0)
    await listener.start()
    port = listener.port
    assert port > 0
    await send(listener, build_mail())
    await listener.stop()
    await listener.stop()
    with pytest.raises(aiosmtplib.SMTPConnectError):
        await aiosmtplib.send(build_mail(), hostname="127.0.0.1", port=port, timeout=2)
    with pytest.raises(ValueError, match="tls_context"):
        SmtpListener(mailbox, store, require_starttls=True)


async def test_our_own_reply_sent_to_ourselves_over_starttls_is_never_answered(
    tmp_path: Path, mailbox: SupportMailbox, store: Store
) -> None:
    context, certificate = self_signed_tls(tmp_path)
    async with SmtpListener(mailbox, store, port=0, tls_context=context, require_starttls=True) as listener:
        smtp = SmtpSettings("127.0.0.1", listener.port, security="starttls", ca_file=str(certificate), timeout=5)
        reply = OutboundMessage(
            message_id="r1", conversation_id="c1", channel="email", recipient="help@northwind.example", text="Hi"
        )
        await EmailChannel(smtp, mailbox, message_id_secret=b"a-secret-of-this-test-only").send(reply)
    [(raw, _, _)] = store.received
    inbound = read_inbound_email(raw, mailbox)
    assert inbound.ignore_reason == "own address: support@northwind.example"
