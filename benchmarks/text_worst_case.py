"""Worst-case time of the text guardrails, redactors and parsers on adversarial input.

For each function and size (4k, 40k, 100k characters), every family of adversarial text (long runs of one
character class, separators, mixed scripts, nested brackets, base64-looking runs...) is timed as the median of
several runs, and the worst family is printed beside two baselines measured in the same run on the same texts:
`len(text.split())` and a plain `re` scan (`re.findall(r"\\w+", text)`). A call that takes longer than the cap is
stopped and shown as "> cap".

    .venv/bin/python benchmarks/text_worst_case.py [--runs 3] [--sizes 4000,40000,100000] [--cap 5]
"""

from __future__ import annotations

import argparse
import re
import signal
import statistics
import time
from collections.abc import Callable
from types import FrameType

from agent.escalation import asks_for_human, prefers_assistant
from agent.grounding import cited_markers, strip_markers
from agent.guardrails import detect_injection, leaks_system_prompt, neutralize, redact
from agent.injection_text import text_views
from agent.knowledge_gate import seeks_knowledge
from agent.llm import clean_answer
from agent.sentiment import analyze_sentiment
from channels.email.bodies import html_to_text, new_text
from knowledge.chunking import blocks_from_paragraphs, chunk_document
from knowledge.documents import Document

FAMILIES = (
    "7", "1 ", " ", "a", "Aa", "!?", "@", ".", "-", "a@b.", "x.y@", "%a", "ignore ", "DE89 ", "QUJD", "4a ", "[(<",
    "aж1 ", "a . ", "ABC ", "+1(", "\n", "%41", "&amp;", "i g n o r e ", "[1] ", "4111 ", "> ", "<div>", "日本",
    "my instructions ", "((([[[", "On Mon, x wrote:\n", "-- \n", "a-", "1-2-", "aA1+/",
    "a@b.co ", "4111 1111 1111 1111 ", "12345678Z ", "AB 12 34 56 C ", "+49 30 1234567 ", "123-45-6789 ",
    "DE89 3704 0044 0532 0130 00 ", "<ul>", "<div><p>", "<b></p>", "<blockquote>",
)  # fmt: skip


def _chunk(text: str) -> object:
    return chunk_document(Document(id="bench", title="Bench", blocks=blocks_from_paragraphs(text), source="bench"))


FUNCTIONS: dict[str, Callable[[str], object]] = {
    "agent.guardrails.redact": redact,
    "agent.guardrails.detect_injection": detect_injection,
    "agent.injection_text.text_views": text_views,
    "agent.guardrails.neutralize": neutralize,
    "agent.guardrails.leaks_system_prompt": lambda t: leaks_system_prompt(t, "You are the support assistant."),
    "agent.sentiment.analyze_sentiment": lambda t: analyze_sentiment(t, ()),
    "agent.knowledge_gate.seeks_knowledge": seeks_knowledge,
    "agent.escalation.asks_for_human": asks_for_human,
    "agent.escalation.prefers_assistant": prefers_assistant,
    "agent.grounding.cited_markers": lambda t: cited_markers(t, 5),
    "agent.grounding.strip_markers": strip_markers,
    "agent.llm.clean_answer": clean_answer,
    "channels.email.bodies.new_text": new_text,
    "channels.email.bodies.html_to_text": html_to_text,
    "knowledge.chunking.chunk_document": _chunk,
}


class _Capped(Exception):
    pass


def _alarm(_signum: int, _frame: FrameType | None) -> None:
    raise _Capped


def _median_ms(function: Callable[[str], object], text: str, runs: int, cap: float) -> float:
    times = []
    for _ in range(runs):
        signal.setitimer(signal.ITIMER_REAL, cap)
        start = time.perf_counter()
        try:
            function(text)
        except _Capped:
            return float("inf")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def _cell(ms: float, cap: float) -> str:
    return f"> {cap * 1000:.0f}" if ms == float("inf") else f"{ms:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", default="4000,40000,100000")
    parser.add_argument("--cap", type=float, default=5.0, help="seconds after which a call is stopped")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    signal.signal(signal.SIGALRM, _alarm)
    detect_injection("warm up")  # compiles the rules outside the timed calls

    texts = {size: [(f, (f * (size // len(f) + 1))[:size]) for f in FAMILIES] for size in sizes}
    split_ms = {
        s: max(_median_ms(lambda t: len(t.split()), t, args.runs, args.cap) for _, t in texts[s]) for s in sizes
    }
    scan_ms = {
        s: max(_median_ms(lambda t: re.findall(r"\w+", t), t, args.runs, args.cap) for _, t in texts[s]) for s in sizes
    }

    header = " | ".join(f"{size // 1000}k worst ms (family)" for size in sizes)
    print(f"| function | {header} |")  # noqa: T201
    print("| --- |" + " ---: |" * len(sizes))  # noqa: T201
    for name, function in FUNCTIONS.items():
        cells = []
        for size in sizes:
            worst_ms, worst_family = max(
                (_median_ms(function, text, args.runs, args.cap), f) for f, text in texts[size]
            )
            cells.append(f"{_cell(worst_ms, args.cap)} ({worst_family!r})")
        print(f"| `{name}` | " + " | ".join(cells) + " |", flush=True)  # noqa: T201
    print("| baseline `len(text.split())` | " + " | ".join(f"{split_ms[s]:.1f}" for s in sizes) + " |")  # noqa: T201
    print("| baseline `re.findall(r'\\w+')` | " + " | ".join(f"{scan_ms[s]:.1f}" for s in sizes) + " |")  # noqa: T201


if __name__ == "__main__":
    main()
