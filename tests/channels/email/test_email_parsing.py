"""Raw e-mails as real clients write them, parsed into inbound messages."""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage

import pytest

from channels.base import ChannelError
from channels.email import EmailParseError, SupportMailbox, parse_email

TRUSTED_MX = "mx.northwind.example"  # as in conftest.py: the MX whose Authentication-Results we trust

BuildMail = Callable[..., EmailMessage]
MakeMail = Callable[..., bytes]

GMAIL_REPLY = """Hi,

the battery still does not charge, even with the new charger.

Best regards,
Jane

On Mon, 3 Mar 2025 at 10:00, Northwind Support <support@northwind.example> wrote:
> Hello Jane,
>
> please try another charger.
"""

OUTLOOK_ORIGINAL = """Thanks, that worked, but now the display flickers.

-----Original Message-----
From: Northwind Support <support@northwind.example>
Sent: Monday, March 3, 2025 10:00 AM
To: Jane Doe <jane@customer.example>
Subject: RE: Battery does not charge

Hello Jane, please try another charger.
"""

OUTLOOK_HEADER_BLOCK = """The display flickers since the update.

________________________________
From: Northwind Support <support@northwind.example>
Sent: Monday, March 3, 2025 10:00 AM
To: Jane Doe <jane@customer.example>
Subject: RE: Battery does not charge

Hello Jane, please try another charger.
"""

GERMAN_REPLY = """Hallo,

das Rad quietscht immer noch beim Bremsen.

Viele Grüße
Jan

Am 03.03.2025 um 10:00 schrieb Northwind Support <support@northwind.example>:
> Hallo Jan,
> bitte die Bremsen prüfen.
"""


def test_gmail_reply_keeps_only_the_new_words(make_mail: MakeMail, mailbox: SupportMailbox) -> None:
    message = parse_email(make_mail(GMAIL_REPLY, sender="Jane Doe <Jane.Doe@Customer.EXAMPLE>"), mailbox)
    assert message.channel == "email"
    assert message.sender == "jane.doe@customer.example"
    assert message.sender_name == "Jane Doe"
    assert message.recipient == "support@northwind.example"
    assert message.subject == "Battery does not charge"
    assert message.text == "Hi,\n\nthe battery still does not charge, even with the new charger."
    assert message.provider_message_id == "first.1@customer.example"
    assert "please try another charger" in message.metadata["full_text"]
    assert message.metadata["message_id"] == "first.1@customer.example"
    assert message.metadata["format"] == "plain"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (OUTLOOK_ORIGINAL, "Thanks, that worked, but now the display flickers."),
        (OUTLOOK_HEADER_BLOCK, "The display flickers since the update."),
        (GERMAN_REPLY, "Hallo,\n\ndas Rad quietscht immer noch beim Bremsen."),
        ("Where is my order 1234?\n\n-- \nJane Doe\nCustomer Corp\n+1 555 0100\n", "Where is my order 1234?"),
        ("Where is my order?\n\nSent from my iPhone", "Where is my order?"),
        (
            "Hi,\nThanks, that helped. But now the light blinks red.\nWhat should I do?\n\nKind regards,\nJane",
            "Hi,\nThanks, that helped. But now the light blinks red.\nWhat should I do?",
        ),
        ("I need:\n- a new chain\n- two brake pads\n\nThanks\nJane", "I need:\n- a new chain\n- two brake pads"),
        ("Thanks!", "Thanks!"),
        ("Hi,\nI ordered a bike.\nThanks!\nIt arrived broken.", "Hi,\nI ordered a bike.\nThanks!\nIt arrived broken."),
        (
            "The bike is fine.\n\nThanks,\nJane\n\nWhere is the invoice?",
            "The bike is fine.\n\nThanks,\nJane\n\nWhere is the invoice?",
        ),
        ("Order 1234 please.\nThanks\nJane Doe", "Order 1234 please."),
        (
            "Gesendet von DHL am Montag, angekommen ist nichts.\nWas nun?",
            "Gesendet von DHL am Montag, angekommen ist nichts.\nWas nun?",
        ),
        (
            "Bonjour,\nle vélo est cassé.\n\nCordialement,\nMarie\n\nLe lun. 3 mars 2025 à 10:00, Support "
            "<support@northwind.example> a écrit :\n> Bonjour",
            "Bonjour,\nle vélo est cassé.",
        ),
    ],
    ids=[
        "outlook-original",
        "outlook-headers",
        "german",
        "signature-dashes",
        "mobile",
        "thanks-inside",
        "list",
        "only-thanks",
        "thanks-midway",
        "question-after",
        "thanks-name",
        "gesendet-von",
        "french",
    ],
)
def test_quotes_and_signatures_are_cut(body: str, expected: str, make_mail: MakeMail, mailbox: SupportMailbox) -> None:
    assert parse_email(make_mail(body), mailbox).text == expected


def test_a_reply_that_is_all_quote_falls_back_to_the_whole_body(make_mail: MakeMail, mailbox: SupportMailbox) -> None:
    body = "On Mon, 3 Mar 2025 at 10:00, Support <support@northwind.example> wrote:\n> Is it fixed?\n"
    message = parse_email(make_mail(body), mailbox)
    assert "Is it fixed?" in message.text


def test_empty_body_uses_the_subject(make_mail: MakeMail, mailbox: SupportMailbox) -> None:
    message = parse_email(make_mail("\n", subject="Refund for order 1234 please"), mailbox)
    assert message.text == "Refund for order 1234 please"


def test_html_only_mail_becomes_text_without_the_quote(make_mail: MakeMail, mailbox: SupportMailbox) -> None:
    html = (
        "<html><head><style>p {color: red}</style></head><body>"
        "<div>Hello,</div><div>my order <b>#1234</b> &amp; the invoice are missing.<br>Can you help?</div>"
        "<ul><li>order 1234</li><li>invoice</li></ul>"
        '<div class="gmail_quote"><div class="gmail_attr">On Mon, 3 Mar 2025 Support wrote:</div>'
        "<blockquote>Old answer</blockquote></div></body></html>"
    )
    message = parse_email(make_mail(None, html=html), mailbox)
    assert message.text == (
        "Hello,\nmy order #1234 & the invoice are missing.\nCan you help?\n\n- order 1234\n- invoice"
    )
    assert message.metadata["format"] == "html"
    assert "Old answer" in message.metadata["full_text"]
    assert message.attachments == ()


def test_attachments_and_inline_images_are_kept(build_mail: BuildMail, mailbox: SupportMailbox) -> None:
    mail = build_mail("See the photo and the invoice.", html="<p>See the photo <img src='cid:photo1'></p>")
    html_part = mail.get_body(("html",))
    assert html_part is not None
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    html_part.add_related(png, maintype="image", subtype="png", cid="<photo1>", filename="photo.png")
    pdf = b"%PDF-1.4 invoice"
    mail.add_attachment(pdf, maintype="application", subtype="pdf", filename="invoice.pdf")
    mail.add_attachment(b"-----BEGIN PKCS7-----", maintype="application", subtype="pkcs7-signature")
    message = parse_email(bytes(mail), mailbox)
    assert message.text == "See the photo and the invoice."
    files = {a.filename: a for a in message.attachments}
    assert set(files) == {"photo.png", "invoice.pdf"}
    assert files["photo.png"].content == png and files["photo.png"].content_type == "image/png"
    assert files["photo.png"].size == len(png)
    assert files["invoice.pdf"].content == pdf and files["invoice.pdf"].content_type == "application/pdf"


def test_forwarded_message_and_unnamed_image_get_names(build_mail: BuildMail, mailbox: SupportMailbox) -> None:
    mail = build_mail("Forwarding the order confirmation.")
    inner = build_mail("Your order 1234 is confirmed.", sender="shop@northwind.example", subject="Order 1234")
    mail.add_attachment(inner)
    mail.add_attachment(b"GIF89a", maintype="image", subtype="gif", disposition="inline")
    message = parse_email(bytes(mail), mailbox)
    names = [a.filename for a in message.attachments]
    assert names[0].endswith(".eml") and names[1].startswith("inline-") and names[1].endswith(".gif")
    assert b"Your order 1234 is confirmed." in (message.attachments[0].content or b"")


def test_bad_charsets_never_crash(mailbox: SupportMailbox) -> None:
    raw = (
        b"From: =?x-unknown?q?J=E4ne?= <jane@customer.example>\r\n"
        b"To: support@northwind.example\r\n"
        b"Subject: =?utf-8?b?!!!not-base64?= Caf\xe9 broken\r\n"
        b"Message-ID: <charset@customer.example>\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: text/plain; charset="x-klingon"\r\n'
        b"Content-Transfer-Encoding: 8bit\r\n\r\n"
        b"Gr\xfc\xdfe, mein Fahrrad ist kaputt \xff\xfe.\r\n"
    )
    message = parse_email(raw, mailbox)
    assert message.sender == "jane@customer.example"
    assert message.text.startswith("Grüße, mein Fahrrad ist kaputt")
    assert message.subject is not None


def test_utf8_declared_but_latin1_sent(mailbox: SupportMailbox) -> None:
    raw = (
        b"From: jane@customer.example\r\nTo: support@northwind.example\r\nSubject: Hi\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"Stra=DFe und M=FCnchen\r\n"
    )
    assert parse_email(raw, mailbox).text == "Straße und München"


def test_missing_message_id_gets_a_stable_hash(make_mail: MakeMail, mailbox: SupportMailbox) -> None:
    raw = make_mail(message_id=None)
    first = parse_email(raw, mailbox).provider_message_id
    relayed = b"Received: from mx.example by mx2.example; Mon, 3 Mar 2025 10:01:00 +0000\r\n" + raw
    assert first is not None and first.startswith("sha256:")
    assert parse_email(relayed, mailbox).provider_message_id == first
    assert parse_email(raw.replace(b"\r\n", b"\n"), mailbox).provider_message_id == first
    assert parse_email(make_mail("Another question", message_id=None), mailbox).provider_message_id != first
    assert parse_email(raw, mailbox).record_keys == ()  # an unauthenticated sender leaves no keys behind
    signed = make_mail(message_id=None, authenticated=True)
    assert parse_email(signed, mailbox, trusted_authserv_ids=[TRUSTED_MX]).record_keys == (
        "email:subject:jane@customer.example:battery does not charge",
    )


def test_recipient_is_our_address(make_mail: MakeMail, mailbox: SupportMailbox) -> None:
    raw = make_mail(to="Bob <bob@customer.example>, Help <HELP@help.northwind.example>")
    message = parse_email(raw, mailbox)
    assert message.recipient == "help@help.northwind.example"
    envelope = parse_email(
        make_mail(to="undisclosed-recipients:;"), mailbox, envelope_recipients=["support@northwind.example"]
    )
    assert envelope.recipient == "support@northwind.example"


def test_reply_to_and_cc_are_kept(make_mail: MakeMail, mailbox: SupportMailbox) -> None:
    raw = make_mail(headers={"Reply-To": "jane.private@home.example", "Cc": "boss@customer.example"})
    message = parse_email(raw, mailbox)
    assert message.metadata["reply_to"] == "jane.private@home.example"
    assert message.metadata["cc"] == "boss@customer.example"


def test_format_flowed_is_unwrapped(mailbox: SupportMailbox) -> None:
    raw = (
        b"From: jane@customer.example\r\nTo: support@northwind.example\r\nSubject: Hi\r\n"
        b"Content-Type: text/plain; charset=utf-8; format=flowed\r\n\r\n"
        b"This is one long line that the client \r\nwrapped for transport.\r\nSecond line.\r\n"
    )
    assert (
        parse_email(raw, mailbox).text == "This is one long line that the client wrapped for transport.\nSecond line."
    )


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"", "empty"),
        (b"\x00\x01\x02 this is not an e-mail at all", "not an e-mail"),
        (b"To: support@northwind.example\r\nSubject: who am I\r\n\r\nHello\r\n", "no usable From"),
        (b"From: not an address\r\nTo: support@northwind.example\r\n\r\nHello\r\n", "no usable From"),
        (b"From: jane@customer.example\r\nTo: support@northwind.example\r\n\r\n\r\n", "no text"),
    ],
    ids=["empty", "garbage", "no-from", "bad-from", "nothing-inside"],
)
def test_bad_input_raises_a_clear_error(raw: bytes, fragment: str, mailbox: SupportMailbox) -> None:
    with pytest.raises(EmailParseError, match=fragment) as caught:
        parse_email(raw, mailbox)
    assert isinstance(caught.value, ChannelError)


def test_size_limit(make_mail: MakeMail, mailbox: SupportMailbox) -> None:
    raw = make_mail("x" * 5000)
    with pytest.raises(EmailParseError, match="more than the limit of 1000"):
        parse_email(raw, mailbox, max_bytes=1000)


def test_long_text_is_truncated(make_mail: MakeMail, mailbox: SupportMailbox) -> None:
    message = parse_email(make_mail("word " * 40_000), mailbox)
    assert len(message.text) <= 100_010 and message.metadata["truncated"] == "true"


def test_an_email_message_object_is_not_bytes(mailbox: SupportMailbox) -> None:
    with pytest.raises(TypeError, match="must be bytes"):
        parse_email(EmailMessage(), mailbox)  # type: ignore[arg-type]
