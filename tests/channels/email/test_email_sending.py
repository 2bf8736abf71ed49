"""Sending replies through aiosmtplib to a real aiosmtpd server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import socket
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from fakes.smtp import SmtpSink, self_signed_tls

from channels.base import Channel, DeliveryError
from channels.email import (
    EmailChannel,
    SmtpSettings,
    SupportMailbox,
    message_id_key,
    new_reply_token,
    random_message_id,
    reply_address,
    reply_key,
)
from channels.email.composing import outbound_message_id
from channels.messages import Link, OutboundMessage

NOW = dt.datetime(2025, 3, 3, 11, 0, tzinfo=dt.UTC)
SECRET = b"install-secret-of-the-tests-0123456789"


def outbound(**overrides: object) -> OutboundMessage:
    values: dict[str, object] = {
        "message_id": "out-42",
        "conversation_id": "conv-1",
        "channel": "email",
        "recipient": "Jane@Customer.example",
        "text": "Hello Jane,\n\nplease **charge it for 4 hours** [1]:\n\n- unplug it\n- plug it in again\n\n"
        "See [the manual](https://northwind.example/manual?a=1&b=2).",
        "subject": "Battery does not charge",
        "citations": (Link("Charging <your> battery", "https://northwind.example/kb/charging"), Link("Warranty")),
        "in_reply_to": "first.1@customer.example",
        "references": ("first.1@customer.example",),
    }
    values.update(overrides)
    return OutboundMessage(**values)  # type: ignore[arg-type]


def channel_for(port: int, mailbox: SupportMailbox, **settings: object) -> EmailChannel:
    values: dict[str, object] = {"host": "127.0.0.1", "port": port, "security": "none", "timeout": 5, **settings}
    smtp = SmtpSettings(**values)  # type: ignore[arg-type]
    return EmailChannel(smtp, mailbox, message_id_secret=SECRET, clock=lambda: NOW)


@pytest.fixture
def channel(sink: SmtpSink, mailbox: SupportMailbox) -> EmailChannel:
    return channel_for(sink.port, mailbox)


def parts(mail: EmailMessage) -> tuple[str, str]:
    plain, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert plain is not None and html is not None
    return plain.get_content().replace("\r\n", "\n"), html.get_content().replace("\r\n", "\n")


async def test_an_agent_reply_arrives_with_threading_and_loop_headers(channel: EmailChannel, sink: SmtpSink) -> None:
    token = new_reply_token()
    message = outbound(metadata={"reply_to": reply_address("support@northwind.example", token)})
    delivery = await channel.send(message)
    [mail] = sink.received
    assert mail.mail_from == "support@northwind.example" and mail.rcpt_tos == ["jane@customer.example"]
    headers = mail.mime
    assert headers["From"] == "Northwind Support <support@northwind.example>"
    assert headers["To"] == "jane@customer.example"
    assert headers["Subject"] == "Re: Battery does not charge"
    message_id = outbound_message_id("out-42", "northwind.example", SECRET)
    assert headers["Message-ID"] == f"<{message_id}>"
    assert headers["In-Reply-To"] == "<first.1@customer.example>"
    assert headers["References"] == "<first.1@customer.example>"
    assert headers["Reply-To"] == f"Northwind Support <support+{token}@northwind.example>"
    assert headers["Auto-Submitted"] == "auto-replied"
    assert headers["Date"] == "Mon, 03 Mar 2025 11:00:00 +0000"
    assert headers.get_content_type() == "multipart/alternative"
    assert delivery.provider_message_ids == (message_id,)
    assert delivery.thread_keys == (message_id_key(message_id), reply_key(token))


async def test_both_parts_carry_the_text_and_the_sources(channel: EmailChannel, sink: SmtpSink) -> None:
    await channel.send(outbound())
    text, html = parts(sink.received[0].mime)
    assert "please charge it for 4 hours [1]:" in text
    assert "- unplug it\n- plug it in again" in text
    assert "See the manual (https://northwind.example/manual?a=1&b=2)." in text
    assert text.rstrip().endswith(
        "Sources:\n[1] Charging <your> battery: https://northwind.example/kb/charging\n[2] Warranty"
    )
    assert "<strong>charge it for 4 hours</strong> [1]" in html
    assert "<li>unplug it</li>" in html
    assert '<a href="https://northwind.example/manual?a=1&amp;b=2">the manual</a>' in html
    assert '<li><a href="https://northwind.example/kb/charging">Charging &lt;your&gt; battery</a></li>' in html
    assert "<li>Warranty</li>" in html


async def test_html_is_escaped(channel: EmailChannel, sink: SmtpSink) -> None:
    text = "<script>alert(1)</script> & <b>not bold</b> [x](javascript:alert(1))"
    await channel.send(outbound(text=text, citations=(Link("Evil", "javascript:alert(1)"),)))
    _, html = parts(sink.received[0].mime)
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;b&gt;not bold&lt;/b&gt;" in html
    assert "javascript:" not in html.replace("[x](javascript:alert(1))", "")


async def test_the_message_id_is_the_same_on_every_attempt(channel: EmailChannel, sink: SmtpSink) -> None:
    first = await channel.send(outbound())
    again = await channel.send(outbound())
    other = await channel.send(outbound(message_id="out-43"))
    await channel.send(outbound(message_id="id with spaces/<and>@"))
    ids = [mail.mime["Message-ID"].strip() for mail in sink.received]
    assert ids[0] == ids[1] != ids[2]
    assert first.provider_message_ids == again.provider_message_ids
    assert other.provider_message_ids == (outbound_message_id("out-43", "northwind.example", SECRET),)
    assert " " not in ids[3] and "<and>" not in ids[3]
    assert await channel.find_delivered(outbound(), NOW) is None


async def test_a_resend_after_a_restart_keeps_the_message_id(sink: SmtpSink, mailbox: SupportMailbox) -> None:
    before = await channel_for(sink.port, mailbox).send(outbound())
    after = await channel_for(sink.port, mailbox).send(outbound())  # a new process, the same install secret
    assert before.provider_message_ids == after.provider_message_ids
    assert sink.received[0].mime["Message-ID"] == sink.received[1].mime["Message-ID"]


def test_message_ids_reveal_neither_the_outbox_key_nor_the_sequence() -> None:
    keys = [f"out-{n}" for n in range(1, 201)]
    ids = [outbound_message_id(key, "northwind.example", SECRET) for key in keys]
    other_install = [outbound_message_id(key, "northwind.example", b"another-install-secret-987654") for key in keys]
    locals_ = [message_id.partition("@")[0] for message_id in ids]
    assert all(message_id.endswith("@northwind.example") for message_id in ids)
    assert all(len(local) == 32 and local.isalnum() and local == local.lower() for local in locals_)  # 160 bits
    assert not any(str(n) in local for n, local in enumerate(locals_, 1) if n > 99)  # no counter shows through
    assert len(set(ids)) == len(ids) and not set(ids) & set(other_install)  # two installs never share an id
    # Neighbouring outbox keys give unrelated ids: about half of the 160 bits differ (80 +- 6.3).
    values = [int.from_bytes(base64.b32decode(local.upper())) for local in locals_]
    assert min((a ^ b).bit_count() for a, b in zip(values, values[1:], strict=False)) > 40
    with pytest.raises(ValueError, match="at least 16 bytes"):
        outbound_message_id("out-1", "northwind.example", b"short")


def test_one_off_message_ids_are_random() -> None:
    ids = {random_message_id("northwind.example") for _ in range(500)}
    assert len(ids) == 500
    assert all(i.startswith("<") and i.endswith("@northwind.example>") and len(i) == 52 for i in ids)


async def test_a_human_reply_is_not_auto_submitted(channel: EmailChannel, sink: SmtpSink) -> None:
    await channel.send(outbound(author="human", subject="RE: Battery does not charge"))
    await channel.send(outbound(author="system", subject=None, in_reply_to=None, references=()))
    human, system = (mail.mime for mail in sink.received)
    assert human["Auto-Submitted"] is None and human["X-Auto-Response-Suppress"] is None
    assert human["Subject"] == "RE: Battery does not charge"
    assert system["Auto-Submitted"] == "auto-generated" and system["Subject"] == "Your request"
    assert system["In-Reply-To"] is None and system["References"] is None


async def test_made_up_ids_are_not_threaded_on(channel: EmailChannel, sink: SmtpSink) -> None:
    await channel.send(outbound(in_reply_to="sha256:abc", references=("a@x.example", "sha256:abc")))
    mail = sink.received[0].mime
    assert mail["In-Reply-To"] is None and mail["References"] == "<a@x.example>"
    assert mail["Subject"] == "Battery does not charge"


@pytest.mark.parametrize(
    ("sender", "expected"),
    [
        ("help@northwind.example", "help@northwind.example"),
        ("support+abcdefghijklmnopqrst@northwind.example", "support@northwind.example"),
        ("someone@elsewhere.example", "support@northwind.example"),
        (None, "support@northwind.example"),
    ],
)
async def test_the_from_address_is_one_of_ours(
    sender: str | None, expected: str, channel: EmailChannel, sink: SmtpSink
) -> None:
    await channel.send(outbound(sender=sender))
    assert sink.received[0].mime["From"].addresses[0].addr_spec == expected


async def test_refusals_are_final_or_retryable_by_code(channel: EmailChannel, sink: SmtpSink) -> None:
    sink.refuse["gone@customer.example"] = "550 5.1.1 no such user"
    sink.refuse["busy@customer.example"] = "451 4.3.0 mailbox busy"
    with pytest.raises(DeliveryError) as gone:
        await channel.send(outbound(recipient="gone@customer.example"))
    assert not gone.value.retryable and gone.value.code == "550" and "no such user" in gone.value.reason
    with pytest.raises(DeliveryError) as busy:
        await channel.send(outbound(recipient="busy@customer.example"))
    assert busy.value.retryable and busy.value.code == "451"
    sink.data_reply = "554 5.7.1 message refused as spam"
    with pytest.raises(DeliveryError) as spam:
        await channel.send(outbound())
    assert not spam.value.retryable and spam.value.code == "554"
    sink.data_reply = "452 4.3.1 insufficient storage"
    with pytest.raises(DeliveryError) as full:
        await channel.send(outbound())
    assert full.value.retryable


async def test_an_invalid_recipient_is_final(channel: EmailChannel) -> None:
    with pytest.raises(DeliveryError) as caught:
        await channel.send(outbound(recipient="not an address"))
    assert not caught.value.retryable and caught.value.code == "invalid-recipient"
    with pytest.raises(DeliveryError, match="Reply-To"):
        await channel.send(outbound(metadata={"reply_to": "nope"}))


async def test_server_down_is_retryable(mailbox: SupportMailbox) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DeliveryError) as caught:
        await channel_for(port, mailbox).send(outbound())
    assert caught.value.retryable and caught.value.code == "connect"
    assert f"127.0.0.1:{port}" in caught.value.reason


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A server that accepts connections and never says a word."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()


async def test_a_silent_server_times_out_retryably(silent_port: int, mailbox: SupportMailbox) -> None:
    smtp = SmtpSettings(host="127.0.0.1", port=silent_port, security="none", timeout=0.3)
    with pytest.raises(DeliveryError) as caught:
        await EmailChannel(smtp, mailbox, message_id_secret=SECRET).send(outbound())
    assert caught.value.retryable and caught.value.code in {"timeout", "connect"}


async def test_starttls_with_login(tmp_path: Path, mailbox: SupportMailbox) -> None:
    context, certificate = self_signed_tls(tmp_path)
    async with SmtpSink(starttls=context, credentials=("frontdesk", "s3cret")) as sink:
        secure = {"security": "starttls", "ca_file": str(certificate), "username": "frontdesk"}
        await channel_for(sink.port, mailbox, **secure, password="s3cret").send(outbound())
        assert sink.sessions == [{"tls": True, "auth": "frontdesk"}]
        with pytest.raises(DeliveryError) as wrong:
            await channel_for(sink.port, mailbox, **secure, password="wrong").send(outbound())
        assert wrong.value.retryable and wrong.value.code == "535"
        with pytest.raises(DeliveryError) as untrusted:
            await channel_for(sink.port, mailbox, security="starttls").send(outbound())
        assert untrusted.value.retryable


async def test_implicit_tls(tmp_path: Path, mailbox: SupportMailbox) -> None:
    context, certificate = self_signed_tls(tmp_path)
    async with SmtpSink(implicit_tls=context) as sink:
        await channel_for(sink.port, mailbox, security="tls", ca_file=str(certificate)).send(outbound())
        assert len(sink.received) == 1


async def test_starttls_demanded_but_not_offered_is_retryable(sink: SmtpSink, mailbox: SupportMailbox) -> None:
    with pytest.raises(DeliveryError) as caught:
        await channel_for(sink.port, mailbox, security="starttls").send(outbound())
    assert caught.value.retryable and sink.received == []


def test_the_channel_speaks_the_protocol(channel: EmailChannel) -> None:
    assert isinstance(channel, Channel) and channel.name == "email"


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"host": " "}, "host"),
        ({"security": "ssl"}, "security"),
        ({"port": 70000}, "port"),
        ({"username": "u"}, "username"),
        ({"timeout": 0}, "timeout"),
    ],
)
def test_settings_are_validated(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        SmtpSettings(**{"host": "smtp.example", **kwargs})  # type: ignore[arg-type]


def test_default_ports() -> None:
    assert [SmtpSettings("h", security=s).effective_port for s in ("starttls", "tls", "none")] == [587, 465, 25]
