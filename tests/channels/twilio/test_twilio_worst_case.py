"""Replies built to make the Markdown patterns backtrack (unclosed "**" and "~~", runs of "[" or tabs, URL
chains, citation-like brackets): WhatsApp, SMS and speech rendering, the e-mail renderings and the web
chat's marker stripping must each stay within a time bound the old patterns missed by seconds."""

from __future__ import annotations

import time
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels.email.composing import render_html
from channels.email.composing import render_text as email_text
from channels.twilio.formatting import render_text, speech_text, split_message
from channels.webchat.protocol import strip_markers

BOUND = 1.5  # seconds per call on 20,000 characters, with room for a busy 2-core machine
SIZE = 20_000
UNITS = (
    "**",
    "__",
    "~~",
    "*",
    "_",
    "`",
    "```",
    "[",
    "[1",
    "[1,",
    "](",
    "(",
    ")",
    " ",
    "\t",
    "\n",
    "> ",
    "# ",
    "- ",
    "1. ",
    "http://",
    "www.",
    "a",
    ".",
    ",",
    " or",
    " at ",
    "é",
    "中文",
    "\u00a0",
)
FUNCTIONS: dict[str, Callable[[str], object]] = {
    "whatsapp": lambda text: render_text(text, medium="whatsapp"),
    "sms": lambda text: render_text(text, medium="sms"),
    "speech": speech_text,
    "split": lambda text: split_message(text, 1600),
    "email text": email_text,
    # markdown-it renders the HTML part in linear but slower time (about 40 µs a character for "[" runs)
    "email html": lambda text: render_html(text[: SIZE // 4]),
    "web chat markers": strip_markers,
}

pieces = st.lists(st.sampled_from(UNITS), min_size=1, max_size=3).map("".join)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.sampled_from(("", "See ", "**", "[a](http://x")), piece=pieces, suffix=st.sampled_from(("", "x")))
def test_rendering_is_fast_on_any_long_reply(prefix: str, piece: str, suffix: str) -> None:
    text = prefix + piece * (SIZE // len(piece) + 1) + suffix
    for name, function in FUNCTIONS.items():
        started = time.perf_counter()
        function(text)
        elapsed = time.perf_counter() - started
        assert elapsed < BOUND, f"{name} took {elapsed:.2f} s on {piece!r} repeated"


def test_the_replies_that_stalled_the_old_patterns_are_fast() -> None:
    for text in ("On " + "[" * SIZE + "x", "[" + "\t" * SIZE + "x", "a" + " " * SIZE + "b", "**a " * (SIZE // 4)):
        for name, function in FUNCTIONS.items():
            started = time.perf_counter()
            function(text)
            elapsed = time.perf_counter() - started
            assert elapsed < BOUND, f"{name} took {elapsed:.2f} s on {text[:12]!r}..."
