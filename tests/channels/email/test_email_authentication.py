"""The sender-trust decision: which Authentication-Results header counts, and what in it authenticates."""

from __future__ import annotations

import time
from email import policy
from email.parser import BytesParser

import pytest

from channels.email import sender_verdict
from channels.email.authentication import DMARC_FAIL, NO_TRUSTED_RESULTS, verdict

MX = "mx.northwind.example"
SENDER = "jane@customer.example"


def check(*results: str, sender: str = SENDER, trusted: tuple[str, ...] = (MX,), between: str = "") -> tuple[bool, str]:
    """The verdict on a message whose headers are `results` (each one Authentication-Results value, top
    first), then `between` (raw header lines), then the sender's own headers."""
    lines = [f"Authentication-Results: {value}" for value in results]
    raw = "\r\n".join([*lines, *filter(None, [between]), f"From: Jane <{sender}>", "Subject: hi", "", "body", ""])
    mime = BytesParser(policy=policy.default).parsebytes(raw.encode())
    found = sender_verdict(mime, [sender], trusted)
    return found.verified, found.reason


@pytest.mark.parametrize(
    ("result", "method"),
    [
        (f"{MX}; dmarc=pass (p=reject) header.from=customer.example", "dmarc"),
        (f"{MX}; dmarc=pass", "dmarc"),  # header.from left out: the server judged this very From
        (f"{MX}; dkim=pass header.d=customer.example header.s=s1; spf=fail", "dkim"),
        (f"{MX}; dkim=pass header.i=@customer.example", "dkim"),
        (f"{MX}; dkim=fail header.d=customer.example; dkim=pass header.d=customer.example", "dkim"),
        (f"{MX}; spf=pass smtp.mailfrom=bounces@customer.example", "spf"),
        (f"{MX}; spf=pass smtp.mailfrom=customer.example", "spf"),
        (f"{MX.upper()} 1; DKIM=Pass header.d=Customer.Example.", "dkim"),
    ],
)
def test_an_aligned_pass_of_a_trusted_server_authenticates(result: str, method: str) -> None:
    verified, reason = check(result)
    assert verified, reason
    assert reason.startswith(f"{method}=pass") and MX in reason


def test_a_parent_domain_signature_is_aligned_a_foreign_one_is_not() -> None:
    assert check(f"{MX}; dkim=pass header.d=customer.example", sender="jane@eu.mail.customer.example")[0]
    assert not check(f"{MX}; dkim=pass header.d=eu.customer.example")[0]  # a subdomain does not sign for its parent
    assert not check(f"{MX}; dkim=pass header.d=attacker.example")[0]
    assert not check(f"{MX}; dkim=pass header.d=example")[0]  # never a bare top-level domain
    assert not check(f"{MX}; dkim=pass header.d=mer.example")[0]  # a suffix of the name is not a parent domain
    assert not check(f"{MX}; spf=pass smtp.mailfrom=bounce@mailer.example")[0]
    assert not check(f"{MX}; dmarc=pass header.from=attacker.example")[0]


@pytest.mark.parametrize(
    ("result", "fragment"),
    [
        (f"{MX}; dmarc=fail (p=reject) header.from=customer.example", DMARC_FAIL),
        (f"{MX}; dmarc=fail header.from=customer.example; dkim=pass header.d=customer.example", DMARC_FAIL),
        (f"{MX}; dkim=fail header.d=customer.example; spf=softfail smtp.mailfrom=customer.example", "dkim=fail"),
        (f"{MX}; dkim=none; spf=none", "spf=none"),
        (f"{MX}; spf=neutral smtp.mailfrom=customer.example", "spf=neutral"),
        (f"{MX}; none", "(none)"),
        (f"{MX}; dmarc=temperror header.from=customer.example", "dmarc=temperror"),
    ],
)
def test_fail_none_and_errors_do_not_authenticate(result: str, fragment: str) -> None:
    verified, reason = check(result)
    assert not verified
    assert fragment in reason


def test_untrusted_servers_and_no_header_do_not_authenticate() -> None:
    assert check("mx.attacker.example; dmarc=pass header.from=customer.example") == (False, NO_TRUSTED_RESULTS)
    assert check() == (False, NO_TRUSTED_RESULTS)
    assert check(f"{MX}; dmarc=pass", trusted=()) == (False, NO_TRUSTED_RESULTS)  # nothing trusted by default
    assert check(f"{MX}; dmarc=pass", trusted=(" MX.Northwind.Example ",))[0]  # ids compare without case


def test_a_forged_header_below_the_trusted_one_is_never_read() -> None:
    """Our MX wrote the top header; the one under its Received line came with the message."""
    received = f"Received: from attacker.example by {MX}; Mon, 3 Mar 2025 10:00:00 +0000"
    forged = f"{MX}; dmarc=pass header.from=customer.example"
    verified, reason = check(
        f"{MX}; dmarc=fail header.from=customer.example",
        between=received + "\r\n" + (f"Authentication-Results: {forged}"),
    )
    assert (verified, reason) == (False, DMARC_FAIL)
    verified, reason = check(f"{MX}; spf=none", between=f"{received}\r\nAuthentication-Results: {forged}")
    assert not verified and "spf=none" in reason


def test_headers_above_the_trusted_one_do_not_count() -> None:
    """A later hop of ours (not trusted) wrote above our MX: its words neither help nor hurt."""
    assert not check("relay.internal.example; dmarc=pass", f"{MX}; dkim=fail header.d=customer.example")[0]
    assert check("relay.internal.example; dmarc=fail", f"{MX}; dkim=pass header.d=customer.example")[0]


def test_the_trusted_servers_adjacent_headers_count_together() -> None:
    """OpenDKIM and OpenDMARC on one server each add a header; both are the trusted server's verdict."""
    verified, reason = check(
        f"{MX}; spf=fail smtp.mailfrom=customer.example", f"{MX}; dkim=pass header.d=customer.example"
    )
    assert verified and reason.startswith("dkim=pass")
    # A header of another server in between ends the block: the one below is not read.
    assert not check(f"{MX}; spf=none", "other.example; none", f"{MX}; dkim=pass header.d=customer.example")[0]


def test_two_trusted_servers_the_topmost_decides() -> None:
    trusted = (MX, "mx2.northwind.example")
    received = "Received: from mx2.northwind.example by mx.northwind.example; Mon, 3 Mar 2025 10:00:00 +0000"
    below = "Authentication-Results: mx2.northwind.example; dmarc=pass"
    assert not check(f"{MX}; dmarc=fail", trusted=trusted, between=f"{received}\r\n{below}")[0]
    assert check(f"{MX}; dmarc=pass", trusted=trusted, between=f"{received}\r\n{below}")[0]


def test_unreadable_or_overlong_trusted_headers_verify_nothing() -> None:
    assert check(f"{MX}; dmarc=pass (unclosed comment")[1] == f"unreadable Authentication-Results from {MX}"
    assert not check(f"{MX}; dmarc=pass header.from=customer.example; " + "spf=pass " * 600)[0]
    # An unreadable header of our MX on top hides nothing below it: the forged pass under it is not read.
    assert not check(f"{MX}; ((((", f"{MX}; dmarc=pass")[0]


def test_nested_comments_and_huge_headers_are_cheap() -> None:
    nasty = [f"{MX}; " + "(" * 5000, f"{MX}; dkim=pass " + "x" * 100_000, f"{MX}; " + "dkim=pass; " * 400]
    started = time.perf_counter()
    for value in nasty:
        assert not check(value)[0]
    assert time.perf_counter() - started < 1.0


def test_more_than_one_from_address_is_not_verified() -> None:
    found = verdict([("Authentication-Results", f"{MX}; dmarc=pass")], SENDER, (MX,))
    assert found.verified
    raw = f"Authentication-Results: {MX}; dmarc=pass\r\nFrom: a@customer.example, b@attacker.example\r\n\r\nx\r\n"
    mime = BytesParser(policy=policy.default).parsebytes(raw.encode())
    refused = sender_verdict(mime, ["a@customer.example", "b@attacker.example"], (MX,))
    assert not refused.verified and refused.reason == "more than one From address"
    assert refused.metadata() == {"sender_verified": "false", "sender_verification": "more than one From address"}
