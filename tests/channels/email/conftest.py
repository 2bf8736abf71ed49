"""Fixtures of the e-mail channel tests: our mailbox, builders of real-shaped messages, an SMTP sink."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from email.message import EmailMessage
from email.utils import format_datetime

import pytest
from fakes.smtp import SmtpSink

from channels.email import SupportMailbox

BuildMail = Callable[..., EmailMessage]
MakeMail = Callable[..., bytes]
TRUSTED_MX = "mx.northwind.example"  # the receiving server whose Authentication-Results the tests trust


@pytest.fixture
def mailbox() -> SupportMailbox:
    return SupportMailbox(
        "support@northwind.example",
        display_name="Northwind Support",
        domains=("help.northwind.example",),
        aliases=("help@northwind.example",),
    )


def _build_mail(
    body: str | None = "Hello, my battery does not charge.",
    *,
    sender: str = "Jane Doe <jane@customer.example>",
    to: str = "support@northwind.example",
    subject: str | None = "Battery does not charge",
    html: str | None = None,
    message_id: str | None = "<first.1@customer.example>",
    headers: dict[str, str] | None = None,
    authenticated: bool = False,
) -> EmailMessage:
    mail = EmailMessage()
    if authenticated:  # as our MX writes it on top: DMARC passed for the From domain
        domain = sender.rpartition("@")[2].rstrip(">")
        mail["Authentication-Results"] = f"{TRUSTED_MX}; dmarc=pass (p=reject) header.from={domain}"
    if sender:
        mail["From"] = sender
    mail["To"] = to
    if subject is not None:
        mail["Subject"] = subject
    mail["Date"] = format_datetime(dt.datetime(2025, 3, 3, 10, 0, tzinfo=dt.UTC))
    if message_id:
        mail["Message-ID"] = message_id
    for name, value in (headers or {}).items():
        mail[name] = value
    if body is not None:
        mail.set_content(body)
        if html is not None:
            mail.add_alternative(html, subtype="html")
    elif html is not None:
        mail.set_content(html, subtype="html")
    return mail


@pytest.fixture
def build_mail() -> BuildMail:
    """A message as a mail client writes it (stdlib email, policy.default): body, sender, to, subject, html,
    message_id, headers; with `authenticated`, as our MX (`TRUSTED_MX`) passes it on, DMARC passed."""
    return _build_mail


@pytest.fixture
def make_mail() -> MakeMail:
    """Like `build_mail`, as raw bytes."""
    return lambda *args, **kwargs: bytes(_build_mail(*args, **kwargs))


@pytest.fixture
async def sink() -> AsyncIterator[SmtpSink]:
    """A started SMTP sink on 127.0.0.1."""
    async with SmtpSink() as server:
        yield server
