"""Knowledge-base and customer text built to make regular expressions backtrack (long runs of blanks, digits,
brackets, separators, mixed scripts): sentence splitting, segmenting, paragraph blocks, tokenizing and word
normalising must each stay within a time bound; a run of blanks before a citation marker took the old
pattern seconds."""

from __future__ import annotations

import time
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from knowledge.chunking import blocks_from_paragraphs
from knowledge.conversation import normalize_words
from knowledge.lexical import tokenize
from knowledge.sentences import CITATION_MARKER, segments, split_sentences

BOUND = 1.5  # seconds per call on 40,000 characters, with room for a busy 2-core machine
SIZE = 40_000
UNITS = (
    " ",
    "\t",
    "\n",
    " \n",
    "1",
    "[",
    "[1",
    "[1,",
    " [",
    ". ",
    "A. ",
    "- ",
    "1. ",
    "  - ",
    "\u27e6",
    "\u27e7",
    "'s ",
    "é",
    "中文",
    "\u00a0",
    "a ",
    "?",
    '!"',
    ")",
)
FUNCTIONS: dict[str, Callable[[str], object]] = {
    "split_sentences": split_sentences,
    "segments": segments,
    "blocks_from_paragraphs": blocks_from_paragraphs,
    "tokenize": tokenize,
    "normalize_words": normalize_words,
    "citation markers": lambda text: CITATION_MARKER.sub("", text),
}

pieces = st.lists(st.sampled_from(UNITS), min_size=1, max_size=3).map("".join)


def _slowest(text: str) -> tuple[str, float]:
    worst = ("", 0.0)
    for name, function in FUNCTIONS.items():
        started = time.perf_counter()
        function(text)
        elapsed = time.perf_counter() - started
        worst = max(worst, (name, elapsed), key=lambda pair: pair[1])
    return worst


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.sampled_from(("", "Refunds. ", "x")), piece=pieces, suffix=st.sampled_from(("", "x", "[1]", ".")))
def test_knowledge_text_functions_are_fast_on_any_long_text(prefix: str, piece: str, suffix: str) -> None:
    text = prefix + piece * (SIZE // len(piece) + 1) + suffix
    name, elapsed = _slowest(text)
    assert elapsed < BOUND, f"{name} took {elapsed:.2f} s on {piece!r} repeated"


def test_a_long_run_of_blanks_before_no_marker_is_fast() -> None:
    # the old marker pattern took seconds here: every blank of the run started a new scan of the run
    name, elapsed = _slowest("a" + " " * SIZE + "b")
    assert elapsed < BOUND, f"{name} took {elapsed:.2f} s"


def test_citation_markers_still_come_off_whole() -> None:
    assert CITATION_MARKER.sub("", "Refunds take 5 days  [1, 2]. Returns are free [3].") == (
        "Refunds take 5 days. Returns are free."
    )
