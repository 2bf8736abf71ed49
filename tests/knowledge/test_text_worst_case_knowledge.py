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
from knowledge.html_depth import MAX_HTML_DEPTH, bounded_depth
from knowledge.lexical import tokenize
from knowledge.loaders import parse_html
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


PARAGRAPH = "<p>Refunds are paid back to the card you used within five working days of the return reaching us.</p>"


@given(
    opening=st.sampled_from(
        ("<div>", "<blockquote>", "<section class=x>", "<ul><li>", "<ol><li><div>", "<table>", "<rt>")
    ),
    repeat=st.integers(min_value=100, max_value=20_000),
)
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_deeply_nested_page_is_read_whole(opening: str, repeat: int) -> None:
    # parsing is quadratic in nesting depth and the walker recursive: 20,000 <div> once took 0.3 s to parse
    # and then failed with "nested too deeply"; the page's text must come out however deep it is written
    html = f"<html><head><title>Refunds</title></head><body><h1>Refunds</h1>{opening * repeat}{PARAGRAPH}</body></html>"
    document = parse_html(html, source="deep.html", doc_id="deep", fallback_title="Deep")
    assert any("five working days" in block.text for block in document.blocks)


def test_nesting_is_cut_at_the_bound_and_ordinary_pages_keep_every_tag() -> None:
    assert bounded_depth(PARAGRAPH * 200) == PARAGRAPH * 200
    deep = "<div>" * (MAX_HTML_DEPTH + 10) + "x" + "</div>" * (MAX_HTML_DEPTH + 10)
    assert bounded_depth(deep).count("<div>") == MAX_HTML_DEPTH
    assert bounded_depth(deep).count("</div>") == MAX_HTML_DEPTH
