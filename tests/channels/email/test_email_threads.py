"""Thread keys: which conversation an e-mail belongs to, and what a conversation records."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable

import pytest

from channels.email import (
    DEFAULT_SUBJECT_WINDOW,
    SupportMailbox,
    message_id_key,
    new_reply_token,
    normalise_subject,
    reply_address,
    reply_key,
)
from channels.email import parse_email as parse_untrusting
from channels.messages import InboundMessage, ThreadKey

MakeMail = Callable[..., bytes]
TRUSTED_MX = "mx.northwind.example"  # as in conftest.py
# Most tests here are about how an authenticated sender's mail threads: our MX vouches for every sender.
parse_email = functools.partial(parse_untrusting, trusted_authserv_ids=(TRUSTED_MX,))


@pytest.fixture
def make_mail(make_mail: MakeMail) -> MakeMail:
    """The conftest's mail, authenticated by our MX unless `authenticated=False`."""
    return functools.partial(make_mail, authenticated=True)


class Conversations:
    """The matching rules of `ThreadKey` over recorded keys, as the inbox applies them (in memory)."""

    def __init__(self) -> None:
        self.keys: dict[str, list[int]] = {}
        self.customer: dict[int, str] = {}

    def receive(self, message: InboundMessage) -> int:
        found = next((c for key in message.thread_keys if (c := self._match(key, message.sender)) is not None), None)
        if found is None:
            found = len(self.customer) + 1
            self.customer[found] = message.sender
        self.record(found, message.record_keys)
        return found

    def record(self, conversation: int, keys: tuple[str, ...]) -> None:
        for key in keys:
            self.keys.setdefault(key, []).append(conversation)

    def _match(self, key: ThreadKey, sender: str) -> int | None:
        for conversation in reversed(self.keys.get(key.value, [])):
            if not key.same_sender or self.customer[conversation] == sender:
                return conversation
        return None


def test_reply_tokens_are_unguessable_and_survive_case_folding() -> None:
    tokens = {new_reply_token() for _ in range(200)}
    assert len(tokens) == 200
    assert all(len(token) == 24 and token == token.lower() and token.isalnum() for token in tokens)
    token = next(iter(tokens))
    assert reply_address("support@northwind.example", token) == f"support+{token}@northwind.example"
    assert reply_address("Support+old@Northwind.example", token.upper()) == f"support+{token}@northwind.example"
    with pytest.raises(ValueError, match="reply token"):
        reply_address("support@northwind.example", "short")
    with pytest.raises(ValueError, match="not an e-mail address"):
        reply_address("support", token)


@pytest.mark.parametrize("header", ["To", "Cc", "Delivered-To", "X-Original-To"])
def test_reply_address_among_the_recipients_comes_first(
    header: str, make_mail: MakeMail, mailbox: SupportMailbox
) -> None:
    token = new_reply_token()
    address = reply_address(mailbox.address, token).upper()
    headers = {"In-Reply-To": "<ours.1@northwind.example>"}
    if header == "To":
        raw = make_mail(to=address, headers=headers)
    else:
        raw = make_mail(to="someone@customer.example", headers={header: address, **headers})
    message = parse_email(raw, mailbox)
    keys = message.thread_keys
    assert message.recipient == "support@northwind.example"  # the token is a secret: not kept as our address
    assert keys[0] == ThreadKey(f"email:reply:{token}", same_sender=False)
    assert keys[0] == reply_key(token)
    assert keys[1] == ThreadKey("email:msgid:ours.1@northwind.example", same_sender=True)


def test_reply_address_in_the_envelope_only(make_mail: MakeMail, mailbox: SupportMailbox) -> None:
    token = new_reply_token()
    raw = make_mail(to="undisclosed-recipients:;")
    message = parse_email(raw, mailbox, envelope_recipients=[reply_address("help@help.northwind.example", token)])
    assert message.thread_keys[0] == reply_key(token)


def test_plus_addresses_of_other_domains_are_not_reply_tokens(make_mail: MakeMail, mailbox: SupportMailbox) -> None:
    raw = make_mail(to="support+abcdefghijklmnopqrst@elsewhere.example, support+de@northwind.example")
    assert not any(key.value.startswith("email:reply:") for key in parse_email(raw, mailbox).thread_keys)


def test_order_in_reply_to_then_references_newest_first_then_subject(
    make_mail: MakeMail, mailbox: SupportMailbox
) -> None:
    raw = make_mail(
        subject="RE: Battery does not charge",
        headers={
            "In-Reply-To": "<rewritten.by.outlook@customer.example>",
            "References": "<old.1@northwind.example> <customer.2@customer.example> <ours.3@northwind.example>",
        },
    )
    message = parse_email(raw, mailbox)
    assert [key.value for key in message.thread_keys] == [
        "email:msgid:rewritten.by.outlook@customer.example",
        "email:msgid:ours.3@northwind.example",
        "email:msgid:customer.2@customer.example",
        "email:msgid:old.1@northwind.example",
        "email:subject:jane@customer.example:battery does not charge",
    ]
    assert all(key.same_sender for key in message.thread_keys)
    assert message.thread_keys[-1].max_age == DEFAULT_SUBJECT_WINDOW
    assert message.metadata["in_reply_to"] == "rewritten.by.outlook@customer.example"


def test_outlook_rewritten_in_reply_to_still_finds_the_conversation(
    make_mail: MakeMail, mailbox: SupportMailbox
) -> None:
    threads = Conversations()
    first = threads.receive(parse_email(make_mail(subject="Order 1234"), mailbox))
    threads.record(first, (message_id_key("frontdesk.r1@northwind.example").value,))  # our reply was delivered
    reply = make_mail(
        "Still broken.",
        subject="Something else entirely",
        message_id="<second@customer.example>",
        headers={"In-Reply-To": "<unknown@outlook.example>", "References": "<frontdesk.r1@northwind.example>"},
    )
    assert threads.receive(parse_email(reply, mailbox)) == first


def test_headers_dropped_falls_back_to_the_subject_within_the_window(
    make_mail: MakeMail, mailbox: SupportMailbox
) -> None:
    threads = Conversations()
    first = threads.receive(parse_email(make_mail(subject="Battery does not charge"), mailbox))
    follow_up = make_mail(
        "Any news?", subject="AW: RE: [Ticket #42]  battery DOES not charge", message_id="<b@c.example>"
    )
    message = parse_email(follow_up, mailbox)
    assert message.thread_keys == (
        ThreadKey(
            "email:subject:jane@customer.example:battery does not charge",
            same_sender=True,
            max_age=dt.timedelta(days=7),
        ),
    )
    assert threads.receive(message) == first
    other = make_mail(subject="Battery does not charge", sender="bob@customer.example", message_id="<x@y.example>")
    assert threads.receive(parse_email(other, mailbox)) != first


def test_two_senders_replying_to_the_same_newsletter_stay_apart(make_mail: MakeMail, mailbox: SupportMailbox) -> None:
    newsletter = {"In-Reply-To": "<newsletter.march@news.northwind.example>"}
    jane = parse_email(make_mail(subject="Re: March news", headers=newsletter), mailbox)
    bob = parse_email(
        make_mail(
            subject="Re: March news", sender="bob@other.example", message_id="<bob.1@other.example>", headers=newsletter
        ),
        mailbox,
    )
    assert not set(jane.record_keys) & set(bob.record_keys)
    assert not any("newsletter" in key for key in (*jane.record_keys, *bob.record_keys))
    assert jane.record_keys == (
        "email:msgid:first.1@customer.example",
        "email:subject:jane@customer.example:march news",
    )
    threads = Conversations()
    assert threads.receive(jane) != threads.receive(bob)
    jane_again = make_mail(
        "And a question.",
        subject="Re: March news",
        message_id="<j2@customer.example>",
        headers={"In-Reply-To": "<first.1@customer.example>"},
    )
    assert threads.receive(parse_email(jane_again, mailbox)) == 1


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: Battery", "battery"),
        ("RE: re: Fwd: FW: AW: SV: Antw: WG: Battery", "battery"),
        ("[Ticket #42] Re: Battery", "battery"),
        ("Re[2]: Battery", "battery"),
        ("Re:   Battery \t charger", "battery charger"),
        ("[EXTERNAL] Battery [#42]", "battery"),
        ("回复：电池", "电池"),
        ("Regarding my refund", "regarding my refund"),
        ("(no subject)", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_normalise_subject(subject: str | None, expected: str) -> None:
    assert normalise_subject(subject) == expected


def test_no_subject_no_subject_key(make_mail: MakeMail, mailbox: SupportMailbox) -> None:
    message = parse_email(make_mail(subject="Re: "), mailbox)
    assert message.thread_keys == ()
    assert message.record_keys == ("email:msgid:first.1@customer.example",)


def test_overlong_ids_are_hashed_to_fit() -> None:
    key = message_id_key("<" + "x" * 600 + "@example.com>")
    assert key.value.startswith("email:msgid:sha256:") and len(key.value) < 100


def test_an_unauthenticated_sender_threads_only_by_the_reply_address(
    make_mail: MakeMail, mailbox: SupportMailbox
) -> None:
    token = new_reply_token()
    headers = {"In-Reply-To": "<ours.1@northwind.example>", "References": "<ours.0@northwind.example>"}
    to_reply_address = make_mail(to=reply_address(mailbox.address, token), headers=headers, authenticated=False)
    message = parse_email(to_reply_address, mailbox)
    assert message.thread_keys == (reply_key(token),)
    assert message.record_keys == ()
    assert message.metadata["sender_verified"] == "false"
    assert message.metadata["sender_verification"] == "no trusted Authentication-Results"
    plain = parse_email(make_mail(headers=headers, authenticated=False), mailbox)
    assert plain.thread_keys == () and plain.record_keys == ()


def test_without_trusted_servers_no_one_is_authenticated(make_mail: MakeMail, mailbox: SupportMailbox) -> None:
    headers = {"In-Reply-To": "<ours.1@northwind.example>"}
    message = parse_untrusting(make_mail(headers=headers), mailbox)  # carries our MX's dmarc=pass: not trusted
    assert message.metadata["sender_verified"] == "false"
    assert message.thread_keys == ()
    verified = parse_email(make_mail(headers=headers), mailbox)
    assert verified.metadata["sender_verified"] == "true"
    assert verified.metadata["sender_verification"] == f"dmarc=pass ({TRUSTED_MX})"
    assert verified.thread_keys[0] == message_id_key("ours.1@northwind.example")


def test_forged_from_with_the_right_references_starts_a_new_conversation(
    make_mail: MakeMail, mailbox: SupportMailbox
) -> None:
    threads = Conversations()
    first = threads.receive(parse_email(make_mail(subject="Order 1234"), mailbox))
    ours = "k2m4q6s8u0w2y4a6c8e0g2i4k6m8o0q2@northwind.example"  # our reply, forwarded by Jane to a friend
    threads.record(first, (message_id_key(ours).value,))
    forged = make_mail(
        "Please send the refund to my new account.",
        subject="Re: Order 1234",
        message_id="<forged.1@attacker.example>",
        headers={"In-Reply-To": f"<{ours}>", "References": f"<first.1@customer.example> <{ours}>"},
        authenticated=False,
    )
    message = parse_email(forged, mailbox)
    assert message.sender == "jane@customer.example"
    assert message.metadata["sender_verified"] == "false"
    attacker = threads.receive(message)
    assert attacker != first
    # The forgery left nothing behind that Jane's next mail with the same subject could land in.
    again = make_mail("Any news?", subject="Re: Order 1234", message_id="<j3@customer.example>")
    assert threads.receive(parse_email(again, mailbox)) == first
    # Jane herself, authenticated, with the same headers joins her conversation.
    jane = make_mail(
        "Still waiting.",
        subject="Re: Order 1234",
        message_id="<j2@customer.example>",
        headers={"In-Reply-To": f"<{ours}>", "References": f"<{ours}>"},
    )
    assert threads.receive(parse_email(jane, mailbox)) == first


def test_an_authenticated_stranger_cannot_join_by_another_customers_ids(
    make_mail: MakeMail, mailbox: SupportMailbox
) -> None:
    threads = Conversations()
    first = threads.receive(parse_email(make_mail(subject="Order 1234"), mailbox))
    ours = "z2m4q6s8u0w2y4a6c8e0g2i4k6m8o0q2@northwind.example"
    threads.record(first, (message_id_key(ours).value,))
    stranger = make_mail(
        "Me too!",
        sender="mallory@other.example",
        subject="Re: Order 1234",
        message_id="<m1@other.example>",
        headers={"In-Reply-To": f"<{ours}>", "References": f"<{ours}>"},
    )
    message = parse_email(stranger, mailbox)
    assert message.metadata["sender_verified"] == "true"  # DMARC passed for other.example
    assert threads.receive(message) != first


def test_the_reply_address_joins_whoever_writes(make_mail: MakeMail, mailbox: SupportMailbox) -> None:
    threads = Conversations()
    first = threads.receive(parse_email(make_mail(subject="Order 1234"), mailbox))
    token = new_reply_token()
    threads.record(first, (reply_key(token).value,))
    colleague = make_mail(
        "I am Jane's colleague; here is the invoice.",
        sender="sam@customer.example",
        to=reply_address(mailbox.address, token),
        subject="Something else",
        message_id="<s1@customer.example>",
        authenticated=False,
    )
    assert threads.receive(parse_email(colleague, mailbox)) == first
