"""The offline answer writer: picks the sentences of the retrieved passages that answer the question.

It scores every sentence (and list step) of the best passages by the question's words it contains,
with a bonus for the kind of answer asked for (numbers for "how long/how much/when", steps for "how do
I"), keeps the best one or two in their original order (a whole list when the best sentence
introduces one), and composes a short reply that cites its passages with [n] markers.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from agent.grounding import split_sentences
from agent.types import AnswerRequest, Draft, TextDelta
from knowledge.documents import Passage
from knowledge.embeddings import Embedder
from knowledge.lexical import tokenize

_LIST_ITEM = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+")
_SUB_ITEM = re.compile(r"^\s{2,}(?:[-*•]|\d{1,2}[.)])\s+")
_NUMERIC_Q = re.compile(
    r"\b(how (long|much|many|soon|often|far)|when|what time|which days?|cost|price|fee|wie (lange|viel)|wann)\b", re.I
)
_STEPS_Q = re.compile(r"\b(how (do|can|should) (i|we)|how to|steps?|wie kann ich|wie)\b", re.I)
_DIGIT = re.compile(r"\d")


@dataclass(frozen=True, slots=True)
class _Unit:
    passage: int  # 1-based
    order: int
    text: str
    is_step: bool
    introduces_list: bool
    list_items: tuple[str, ...] = ()


def _units(passage_no: int, text: str) -> list[_Unit]:
    units: list[_Unit] = []
    lines = text.splitlines()
    order = 0
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        i += 1
        if not line.strip():
            continue
        if "|" in line and line.count("|") >= 1 and i < len(lines) and "|" in lines[i]:
            rows = [line.strip()]
            while i < len(lines) and "|" in lines[i]:
                rows.append(lines[i].strip())
                i += 1
            units.append(_Unit(passage_no, order, "\n".join(rows[:12]), is_step=False, introduces_list=False))
            order += 1
            continue
        if _LIST_ITEM.match(line) and not _SUB_ITEM.match(line):
            subs = []
            while i < len(lines) and _SUB_ITEM.match(lines[i]):
                subs.append(lines[i].strip())
                i += 1
            body = line.strip() + ("\n" + "\n".join(subs) if subs else "")
            units.append(_Unit(passage_no, order, body, is_step=True, introduces_list=False))
            order += 1
            continue
        for sentence in split_sentences(line):
            items: tuple[str, ...] = ()
            introduces = sentence.endswith(":")
            if introduces:
                j, found = i, []
                while j < len(lines) and (not lines[j].strip() or _LIST_ITEM.match(lines[j])):
                    if lines[j].strip():
                        found.append(lines[j].rstrip())
                    j += 1
                items = tuple(found[:8])
            units.append(_Unit(passage_no, order, sentence, False, introduces and bool(items), items))
            order += 1
    return units


class ExtractiveWriter:
    """The offline `AnswerWriter`: short answers made of the passages' own sentences, with citations."""

    name = "extractive"

    def __init__(
        self,
        *,
        embedder: Embedder | None = None,
        max_passages: int = 4,
        max_sentences: int = 3,
        max_chars: int = 600,
        semantic_passages: int = 2,
    ) -> None:
        if max_passages < 1 or max_sentences < 1 or max_chars < 80:
            msg = (
                "max_passages and max_sentences must be at least 1 and max_chars at least 80, got "
                f"{max_passages}, {max_sentences}, {max_chars}"
            )
            raise ValueError(msg)
        self.max_passages = max_passages
        self.max_sentences = max_sentences
        self.max_chars = max_chars
        self.embedder = embedder
        self.semantic_passages = semantic_passages

    def compose(self, request: AnswerRequest) -> Draft:
        """The answer, synchronously (it needs no I/O)."""
        passages = list(request.passages)[: self.max_passages]
        if not passages:
            return Draft(text="", cited=(), writer=self.name)
        main = set(tokenize(request.message)) or set(tokenize(request.question))
        context = set(tokenize(request.question)) - main
        if not main and not context:
            return Draft(text="", cited=(), writer=self.name)
        wants_number = bool(_NUMERIC_Q.search(request.message) or _NUMERIC_Q.search(request.question))
        wants_steps = bool(_STEPS_Q.search(request.message)) and not wants_number

        candidates = [(number, passage, _units(number, passage.text)) for number, passage in enumerate(passages, 1)]
        meaning = self._similarities(request, candidates)
        scored: list[tuple[float, _Unit]] = []
        for number, passage, units in candidates:
            heading = set(tokenize(f"{passage.chunk.title} {passage.chunk.section}"))
            for unit in units:
                words = set(tokenize(unit.text + " " + " ".join(unit.list_items)))
                if not words:
                    continue
                hit = len(main & words) + 0.5 * len(context & words)
                heading_hit = 0.3 * len((main | context) & heading)
                total = len(main) + 0.5 * len(context)
                score = (hit + heading_hit) / total if total else 0.0
                similarity = meaning.get((unit.passage, unit.order))
                if similarity is not None:
                    score = 0.4 * score + 0.8 * max(similarity, 0.0)
                if unit.text.rstrip().endswith("?"):
                    score *= 0.3
                if wants_number and _DIGIT.search(unit.text):
                    score += 0.25
                if wants_steps and (unit.is_step or unit.introduces_list):
                    score += 0.2
                score *= 0.5 + 0.5 * passage.score
                score -= 0.02 * unit.order + 0.05 * (number - 1)
                scored.append((score, unit))
        if not scored:
            return Draft(text="", cited=(), writer=self.name)
        scored.sort(key=lambda item: item[0], reverse=True)
        best_score, best = scored[0]
        if best_score <= 0.05:
            return Draft(text="", cited=(), writer=self.name)

        chosen = [best]
        if best.is_step and wants_steps and len([u for _, u in scored if u.passage == best.passage and u.is_step]) > 1:
            chosen = [u for _, u in scored if u.passage == best.passage and u.is_step]
            chosen = sorted(chosen, key=lambda u: u.order)[:8]
        else:
            used = {best.passage}
            for score, unit in scored[1:]:
                if len(chosen) >= self.max_sentences or score < 0.6 * best_score:
                    break
                if unit.is_step or unit.text in {c.text for c in chosen}:
                    continue
                if unit.passage != best.passage and unit.passage in used:
                    continue
                chosen.append(unit)
                used.add(unit.passage)
        chosen.sort(key=lambda u: (u.passage, u.order))
        return Draft(
            text=self._render(chosen, passages), cited=tuple(sorted({u.passage for u in chosen})), writer=self.name
        )

    def _similarities(
        self, request: AnswerRequest, candidates: Sequence[tuple[int, Passage, list[_Unit]]]
    ) -> dict[tuple[int, int], float]:
        """Cosine of each sentence of the best passages to the question (sentence vectors are cached)."""
        if self.embedder is None:
            return {}
        units = [u for number, _, us in candidates if number <= self.semantic_passages for u in us]
        if not units:
            return {}
        vectors = self.embedder.embed_queries([request.message, *(u.text for u in units)])
        sims = vectors[1:] @ vectors[0]
        return {(u.passage, u.order): float(sim) for u, sim in zip(units, sims, strict=True)}

    def _render(self, units: Sequence[_Unit], passages: Sequence[Passage]) -> str:
        parts: list[str] = []
        length = 0
        steps = [u for u in units if u.is_step]
        if len(steps) > 1 and len(steps) == len(units):
            section = passages[steps[0].passage - 1].chunk.section.split(" > ")[-1].strip()
            lead = f"{section}:" if section and not section.endswith("?") else "Here is how:"
            lines = [lead, *(u.text for u in steps)]
            return "\n".join(lines) + f" [{steps[0].passage}]"
        for unit in units:
            text = _LIST_ITEM.sub("", unit.text, count=1) if unit.is_step else unit.text
            if unit.introduces_list:
                text = text + "\n" + "\n".join(unit.list_items)
            if length and length + len(text) > self.max_chars:
                break
            parts.append(f"{text} [{unit.passage}]")
            length += len(text)
        return " ".join(parts)

    async def write(self, request: AnswerRequest) -> Draft:
        return self.compose(request)

    async def stream(self, request: AnswerRequest) -> AsyncIterator[TextDelta]:
        draft = self.compose(request)
        for piece in re.findall(r"\S+\s*", draft.text):
            yield TextDelta(piece)
