"""Mail loop protection: machine mail is recognised, and replies per sender are braked."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from channels.email import (
    EmailParseError,
    SenderRateLimiter,
    SupportMailbox,
    new_reply_token,
    read_inbound_email,
    read_mime,
    reply_address,
    should_ignore,
)

MakeMail = Callable[..., bytes]

BOUNCE = (
    b"Return-Path: <>\r\n"
    b"From: Mail Delivery System <MAILER-DAEMON@mx.customer.example>\r\n"
    b"To: support@northwind.example\r\n"
    b"Subject: Undelivered Mail Returned to Sender\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n\r\n'
    b"--b1\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n"
    b"--b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.customer.example\r\n\r\n"
    b"Final-Recipient: rfc822; gone@customer.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
    b"--b1--\r\n"
)


@pytest.mark.parametrize(
    ("headers", "sender", "reason"),
    [
        ({"Auto-Submitted": "auto-replied"}, None, "auto-submitted: auto-replied"),
        ({"Auto-Submitted": "auto-generated; owner-email=x@y.example"}, None, "auto-submitted: auto-generated"),
        ({"Return-Path": "<>"}, None, "bounce: empty return path"),
        ({"X-Failed-Recipients": "gone@customer.example"}, None, "bounce: X-Failed-Recipients"),
        ({}, "MAILER-DAEMON@mx.customer.example", "bounce: sender mailer-daemon"),
        ({}, "postmaster@customer.example", "bounce: sender postmaster"),
        ({"Precedence": "bulk"}, None, "precedence: bulk"),
        ({"Precedence": "Junk"}, None, "precedence: junk"),
        ({"Precedence": "list"}, None, "precedence: list"),
        ({"List-Id": "<news.customer.example>"}, None, "mailing list: List-Id"),
        ({"List-Unsubscribe": "<mailto:leave@customer.example>"}, None, "mailing list: List-Unsubscribe"),
        ({"X-Autoreply": "yes"}, None, "auto-reply: X-Autoreply"),
        ({"X-Autorespond": "Out of office"}, None, "auto-reply: X-Autorespond"),
        ({"Subject": "Automatic reply: Battery does not charge"}, None, "auto-reply: subject"),
        ({"Subject": "Abwesenheitsnotiz: Ihre Anfrage"}, None, "auto-reply: subject"),
        ({}, "noreply@shop.example", "no-reply sender"),
        ({}, "no-reply@shop.example", "no-reply sender"),
        ({}, "DoNotReply@shop.example", "no-reply sender"),
        ({}, "do-not-reply@shop.example", "no-reply sender"),
        ({}, "orders-noreply@shop.example", "no-reply sender"),
        ({}, "support@northwind.example", "own address"),
        ({}, "Help@Northwind.example", "own address"),
    ],
)
def test_machine_mail_is_ignored(
    headers: dict[str, str], sender: str | None, reason: str, make_mail: MakeMail, mailbox: SupportMailbox
) -> None:
    subject = headers.pop("Subject", "Battery does not charge")
    raw = make_mail(sender=sender or "Jane Doe <jane@customer.example>", subject=subject, headers=headers)
    found = should_ignore(read_mime(raw), mailbox)
    assert found is not None and found.startswith(reason)


def test_own_reply_address_is_ours(make_mail: MakeMail, mailbox: SupportMailbox) -> None:
    raw = make_mail(sender=reply_address(mailbox.address, new_reply_token()))
    assert (should_ignore(read_mime(raw), mailbox) or "").startswith("own address")


@pytest.mark.parametrize(
    "headers", [{}, {"Auto-Submitted": "no"}, {"Precedence": "first-class"}, {"Return-Path": "<jane@customer.example>"}]
)
def test_a_customer_is_not_ignored(headers: dict[str, str], make_mail: MakeMail, mailbox: SupportMailbox) -> None:
    assert should_ignore(read_mime(make_mail(headers=headers)), mailbox) is None


def test_the_null_envelope_sender_is_a_bounce(make_mail: MakeMail, mailbox: SupportMailbox) -> None:
    assert should_ignore(read_mime(make_mail()), mailbox, envelope_from="") == "bounce: empty envelope sender"
    assert should_ignore(read_mime(make_mail()), mailbox, envelope_from="jane@customer.example") is None


def test_a_delivery_status_report_is_a_bounce(mailbox: SupportMailbox) -> None:
    inbound = read_inbound_email(BOUNCE.replace(b"Return-Path: <>\r\n", b""), mailbox)
    assert inbound.ignore_reason == "bounce: sender mailer-daemon"
    assert not inbound.answerable and inbound.message is not None
    report = BOUNCE.replace(b"Return-Path: <>\r\n", b"").replace(b"MAILER-DAEMON", b"bounces")
    assert read_inbound_email(report, mailbox).ignore_reason == "bounce: report (delivery-status)"


def test_ignorable_mail_without_a_sender_gives_no_message(mailbox: SupportMailbox) -> None:
    raw = b"Auto-Submitted: auto-generated\r\nSubject: report\r\n\r\nnothing\r\n"
    inbound = read_inbound_email(raw, mailbox)
    assert inbound.message is None and inbound.ignore_reason == "auto-submitted: auto-generated"
    with pytest.raises(EmailParseError, match="no usable From"):
        read_inbound_email(b"Subject: report\r\n\r\nnothing\r\n", mailbox)


def test_a_customer_message_is_answerable(make_mail: MakeMail, mailbox: SupportMailbox) -> None:
    inbound = read_inbound_email(make_mail(), mailbox, envelope_from="jane@customer.example")
    assert inbound.answerable and inbound.message is not None and inbound.ignore_reason is None


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_slides_its_window() -> None:
    clock = FakeClock()
    limiter = SenderRateLimiter(3, dt.timedelta(hours=1), clock=clock)
    assert [limiter.allow("jane@customer.example") for _ in range(3)] == [True, True, True]
    assert not limiter.allow("JANE@customer.example")
    assert limiter.remaining("jane@customer.example") == 0
    assert limiter.allow("bob@customer.example")
    clock.now += 1800
    assert not limiter.allow("jane@customer.example")
    clock.now += 1800.5  # the first three replies are now more than an hour old
    assert limiter.remaining("jane@customer.example") == 3
    assert limiter.allow("jane@customer.example")
    assert limiter.remaining("jane@customer.example") == 2


def test_rate_limiter_forgets_the_least_recent_senders() -> None:
    clock = FakeClock()
    limiter = SenderRateLimiter(1, clock=clock, max_senders=2)
    assert limiter.allow("a@x.example") and limiter.allow("b@x.example")
    assert not limiter.allow("a@x.example")  # a is now the most recently seen
    assert limiter.allow("c@x.example")  # evicts b
    assert limiter.allow("b@x.example")
    assert not limiter.allow("c@x.example")


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"max_replies": 0}, "max_replies"),
        ({"window": dt.timedelta(0)}, "window"),
        ({"max_senders": 0}, "max_senders"),
    ],
)
def test_rate_limiter_validates(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        SenderRateLimiter(**kwargs)  # type: ignore[arg-type]
