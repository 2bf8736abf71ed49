"""E-mail bodies built to make regular expressions backtrack: long runs of one character class, separators,
quote markers, half reply headers, mixed scripts, huge headers. Each parse must stay within a time bound
that the backtracking patterns (mail-parser-reply's, minutes on one long line) missed by far."""

from __future__ import annotations

import time
from collections.abc import Callable
from email.message import EmailMessage

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels.email import SupportMailbox, parse_email
from channels.email.bodies import MAX_HTML_DEPTH, bounded_depth, html_to_text, new_text
from channels.email.quotes import quote_start

MakeMail = Callable[..., bytes]

BOUND = 2.0  # seconds per 100,000-character body, with room for a busy 2-core machine
UNITS = (
    "1",
    " ",
    "\t",
    "\n",
    ">",
    "> ",
    "-",
    "_",
    "*",
    "On ",
    "On x ",
    " wrote",
    "Am ",
    " schrieb ",
    "Le ",
    "a écrit ",
    "El ",
    "Il ",
    "Op ",
    "From: x\n",
    "Sent:",
    "Thanks,\n",
    "Thanks\n",
    "Best regards ",
    "-- ",
    "Sent from my ",
    "P.S.",
    "?\n",
    "Ünïcødé ",
    "中文",
    "مرحبا",
    "\u00a0",
    "a.b ",
)

pieces = st.lists(st.sampled_from(UNITS), min_size=1, max_size=4).map("".join)


def _body(prefix: str, piece: str, suffix: str, size: int = 100_000) -> str:
    return prefix + piece * (size // len(piece) + 1) + suffix


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.sampled_from(("", "Hello,\n", "On ", "> ", "Thanks,\n")), piece=pieces, suffix=st.text(max_size=20))
def test_new_text_is_fast_on_any_long_body(prefix: str, piece: str, suffix: str) -> None:
    body = _body(prefix, piece, suffix)
    elapsed = _timed(lambda: new_text(body))
    assert elapsed < BOUND, f"{elapsed:.2f} s for {piece!r} repeated"


def test_the_bodies_that_froze_the_old_parser_are_fast() -> None:
    # each took the old parser from seconds to minutes (8,000 characters of "On x wrote " alone: 2.5 s)
    for body in (
        "1" * 100_000,
        "On x wrote " * 9_000,
        "Le Le a écrit a écrit " * 4_000,
        "Disclaimer mail " * 6_000,
        "a" + " " * 100_000 + "b",
        "Thanks,\n" * 12_000,
        "Hi\n" + "Thanks\nx\n" * 10_000,
        "From: x\n" + "x\n" * 30_000,
    ):
        elapsed = _timed(lambda body=body: new_text(body))  # type: ignore[misc]
        assert elapsed < BOUND, f"{elapsed:.2f} s for {body[:30]!r}..."


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(piece=pieces)
def test_a_whole_mail_with_a_long_body_and_huge_headers_parses_fast(piece: str) -> None:
    mailbox = SupportMailbox("support@northwind.example", domains=("northwind.example",))
    mail = EmailMessage()
    mail["From"] = "Jane <jane@customer.example>"
    mail["To"] = "support@northwind.example"
    mail["Subject"] = "Re: " * 500 + piece.replace("\n", " ") * 50
    mail["References"] = " ".join(f"<{n}@x.example>" for n in range(2_000))
    mail.set_content(_body("", piece, "\nthe end"))
    raw = mail.as_bytes()
    elapsed = _timed(lambda: parse_email(raw, mailbox))
    assert elapsed < 2 * BOUND, f"{elapsed:.2f} s for a mail of {piece!r}"


def test_reply_headers_of_each_language_are_found() -> None:
    for header in (
        "On Mon, 3 Mar 2025 at 10:00, Support <s@x.example> wrote:",
        "On Mon, 3 Mar 2025 at 10:00, Northwind Support\n<support@x.example> wrote:",
        "Am 03.03.2025 um 10:00 schrieb Support <s@x.example>:",
        "Le lun. 3 mars 2025 à 10:00, Support <s@x.example> a écrit :",
        "El lun, 3 mar 2025 a las 10:00, Support (<s@x.example>) escribió:",
        "Il giorno lun 3 mar 2025 alle ore 10:00 Support <s@x.example> ha scritto:",
        "Op ma 3 mrt 2025 om 10:00 schreef Support <s@x.example>:",
        "> On Mon, 3 Mar 2025, Support wrote:",
        "-----Original Message-----",
        "-----Ursprüngliche Nachricht-----",
        "From: Support <s@x.example>\nSent: Monday, March 3, 2025",
        "Von: Support <s@x.example>\nGesendet: Montag, 3. März 2025",
    ):
        text = f"My new question.\n\n{header}\n> the old answer"
        assert quote_start(text) == len("My new question.\n\n"), header
        assert new_text(text) == "My new question.", header


def test_a_sentence_that_only_looks_like_a_header_is_kept() -> None:
    text = "On Monday my order arrived broken.\nFrom the box alone you can tell."
    assert quote_start(text) is None
    assert new_text(text) == text


def _tree_depth(html: str) -> int:
    from selectolax.lexbor import LexborHTMLParser

    root = LexborHTMLParser(html).root
    assert root is not None
    deepest, stack = 0, [(root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in node.iter())
    return deepest


@given(
    opening=st.lists(
        st.sampled_from(
            ("<div>", "<ul>", "<blockquote>", "<b>", "<span>", "<DIV class=x>", "<p>", "<li>", "<td>", "<table>")
            + ("<optgroup>", "<rt>", "<x-y>", "<div/>", "</p>")
        ),
        min_size=1,
        max_size=3,
    ).map("".join),
    repeat=st.integers(min_value=200, max_value=3_000),
)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_deeply_nested_html_is_parsed_at_a_bounded_depth(opening: str, repeat: int) -> None:
    # the tree builder's scope checks walk the stack of open elements: 100k characters of "<ul>" took 0.7 s
    html = opening * repeat + "the words" + "</div>" * 10 + "<p>after</p>"
    bounded = bounded_depth(html)
    assert _tree_depth(bounded) <= 4 * MAX_HTML_DEPTH + 8
    text = html_to_text(html)
    assert "the words" in text and text.endswith("after")


def test_ordinary_html_keeps_every_tag() -> None:
    html = "<div><p>Hello <b>there</b></p><ul><li>one</li><li>two</li></ul>" + "<div>x</div>" * 200 + "</div>"
    assert bounded_depth(html) == html


def test_a_mail_of_deeply_nested_html_parses_fast() -> None:
    mailbox = SupportMailbox("support@northwind.example", domains=("northwind.example",))
    mail = EmailMessage()
    mail["From"] = "Jane <jane@customer.example>"
    mail["To"] = "support@northwind.example"
    mail["Subject"] = "Nested"
    mail.set_content("<ul>" * 25_000 + "my order is late", subtype="html")
    raw = mail.as_bytes()
    elapsed = _timed(lambda: parse_email(raw, mailbox))
    assert elapsed < BOUND / 4, f"{elapsed:.2f} s for 100k characters of nested <ul>"
