"""The offline check of an answer against its passages: which sentences the passages support.

No model is involved: a sentence is supported when most of its content words (stemmed) occur in the
passages it cites and every number in it occurs there too. Sentences without content words (a
greeting, "Anything else?") are neutral. The agent sends only answers whose content sentences are
all supported, after dropping any that are not.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from knowledge.documents import Passage
from knowledge.lexical import tokenize
from knowledge.sentences import split_sentences

_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
# Words that carry no claim about the business; an answer may use them freely.
_CONVERSATIONAL = frozenset(
    tokenize(
        "yes no sorry happy glad help helps helpful thanks thank please you your we our us can could would may "
        "might here there that this those these what which who how when where why also just sure course "
        "anything else question questions know let tell answer hope great okay ok good see find found "
        "information info article articles help centre center according says say said mentioned note"
    )
)


@dataclass(frozen=True, slots=True)
class SentenceSupport:
    """One sentence of an answer and how well the passages back it."""

    text: str
    raw: str
    supported: bool
    coverage: float
    missing_numbers: tuple[str, ...]
    neutral: bool


@dataclass(frozen=True, slots=True)
class SupportReport:
    """The verdict on a whole answer."""

    sentences: tuple[SentenceSupport, ...]

    @property
    def content_sentences(self) -> tuple[SentenceSupport, ...]:
        return tuple(s for s in self.sentences if not s.neutral)

    @property
    def fully_supported(self) -> bool:
        """Every content sentence is supported, and there is at least one."""
        content = self.content_sentences
        return bool(content) and all(s.supported for s in content)

    @property
    def supported_text(self) -> str:
        """The answer with its unsupported sentences left out."""
        return " ".join(s.raw for s in self.sentences if s.neutral or s.supported)


# The marker without the whitespace before it: a search for "\s*[" rescans every run of spaces, so the whitespace
# before a marker is stripped by hand (the same whitespace `knowledge.sentences.CITATION_MARKER` takes).
_BARE_MARKER = re.compile(r"\[(\d{1,2}(?:\s*,\s*\d{1,2})*)\]")


def strip_markers(text: str) -> str:
    """The text without [n] (or [n, m]) citation markers (and the whitespace before each)."""
    if "[" not in text:
        return text.strip()
    pieces: list[str] = []
    cursor = 0
    for match in _BARE_MARKER.finditer(text):
        pieces.append(text[cursor : match.start()].rstrip())
        cursor = match.end()
    pieces.append(text[cursor:])
    return "".join(pieces).strip()


def cited_markers(text: str, n_passages: int) -> tuple[int, ...]:
    """The distinct valid passage numbers cited as [n] or [n, m] in a text (1-based), in order of first use."""
    seen: list[int] = []
    for match in _BARE_MARKER.finditer(text):
        for number in (int(part) for part in match.group(1).split(",")):
            if 1 <= number <= n_passages and number not in seen:
                seen.append(number)
    return tuple(seen)


def _numbers(text: str) -> set[str]:
    return {n.replace(",", ".") for n in _NUMBER.findall(text)}


class GroundingChecker:
    """Decides which sentences of an answer its passages support."""

    def __init__(self, *, min_coverage: float = 0.7) -> None:
        if not 0 < min_coverage <= 1:
            msg = f"min_coverage must be in (0, 1], got {min_coverage}"
            raise ValueError(msg)
        self.min_coverage = min_coverage

    def check(self, answer: str, passages: Sequence[Passage], cited: Sequence[int] = ()) -> SupportReport:
        """Check each sentence against the passages it cites (all passages when it cites none)."""
        all_ids = tuple(range(1, len(passages) + 1))
        evidence_cache: dict[tuple[int, ...], tuple[set[str], set[str]]] = {}

        def evidence(ids: tuple[int, ...]) -> tuple[set[str], set[str]]:
            if ids not in evidence_cache:
                text = " ".join(f"{passages[i - 1].chunk.title} {passages[i - 1].text}" for i in ids)
                evidence_cache[ids] = (set(tokenize(text)), _numbers(text))
            return evidence_cache[ids]

        results: list[SentenceSupport] = []
        for sentence in split_sentences(answer):
            own = cited_markers(sentence, len(passages))
            ids = own or tuple(cited) or all_ids
            clean = strip_markers(sentence)
            words = [w for w in tokenize(clean) if w not in _CONVERSATIONAL and not w.isdigit()]
            numbers = _numbers(clean)
            if not words and not numbers:
                results.append(SentenceSupport(clean, sentence, True, 1.0, (), neutral=True))
                continue
            tokens, known_numbers = evidence(ids)
            coverage = sum(w in tokens for w in words) / len(words) if words else 1.0
            missing = tuple(sorted(n for n in numbers if n not in known_numbers))
            supported = coverage >= self.min_coverage and not missing
            results.append(SentenceSupport(clean, sentence, supported, round(coverage, 3), missing, neutral=False))
        return SupportReport(tuple(results))


__all__ = [
    "GroundingChecker",
    "SentenceSupport",
    "SupportReport",
    "cited_markers",
    "split_sentences",
    "strip_markers",
]
