"""The offline answer writer: picks the sentences of the retrieved passages that answer the question.

It scores every sentence (and list step) of the best passages by the question's words it contains
and, with an embedder, by its meaning (the cosine of its vector to the question's; sentence vectors
come precomputed from the knowledge base, see `knowledge.sentences`), with a bonus for the kind of
answer asked for (numbers for "how long/how much/when", steps for "how do I"), keeps the best one or
two in their original order (a whole list when the best sentence introduces one), and composes a
short reply that cites its passages with [n] markers.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import numpy as np

from agent.types import AnswerRequest, Draft, TextDelta
from knowledge.documents import Passage
from knowledge.embeddings import Embedder
from knowledge.lexical import tokenize
from knowledge.sentences import Segment, SentenceVectors, segments

_LIST_ITEM = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+")
_NUMERIC_Q = re.compile(
    r"\b(how (long|much|many|soon|often|far)|when|what time|which days?|cost|price|fee|wie (lange|viel)|wann)\b", re.I
)
_STEPS_Q = re.compile(r"\b(how (do|can|should) (i|we)|how to|steps?|wie kann ich|wie)\b", re.I)
_DIGIT = re.compile(r"\d")


_SENTENCE_END = re.compile(r"(?<![.!?])[.!?]++\s+|\n+")  # one attempt per run of marks: linear


def sentence_pieces(text: str) -> list[str]:
    """`text` cut after each sentence end and line break: the pieces an answer written at once is streamed in.

    An answer that exists whole (the offline writer's) gains nothing from going out word by word: each piece is
    a frame for every window of the web chat. The pieces join into `text` again.
    """
    cuts = [match.end() for match in _SENTENCE_END.finditer(text)]
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True) if b > a]


@dataclass(frozen=True, slots=True)
class _Unit:
    passage: int  # 1-based
    segment: Segment

    @property
    def order(self) -> int:
        return self.segment.order

    @property
    def text(self) -> str:
        return self.segment.text

    @property
    def is_step(self) -> bool:
        return self.segment.is_step

    @property
    def introduces_list(self) -> bool:
        return self.segment.introduces_list

    @property
    def list_items(self) -> tuple[str, ...]:
        return self.segment.list_items


def _units(passage_no: int, text: str) -> list[_Unit]:
    return [_Unit(passage_no, segment) for segment in segments(text)]


class ExtractiveWriter:
    """The offline `AnswerWriter`: short answers made of the passages' own sentences, with citations."""

    name = "extractive"

    def __init__(
        self,
        *,
        embedder: Embedder | None = None,
        sentences: SentenceVectors | None = None,
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
        if sentences is not None and embedder is None:
            msg = "sentence vectors need the embedder that encodes the question: pass embedder= as well"
            raise ValueError(msg)
        if sentences is not None and embedder is not None and sentences.embedder.name != embedder.name:
            msg = (
                f"the sentence vectors come from model {sentences.embedder.name!r} but questions would be "
                f"encoded by {embedder.name!r}; use one model for both"
            )
            raise ValueError(msg)
        self.embedder = embedder
        # Without a knowledge base's precomputed vectors, sentences are encoded on first use and kept in memory.
        self.sentences = sentences if sentences is not None or embedder is None else SentenceVectors(embedder)
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
        """Cosine of each sentence of the best passages to the question (one encoder call at most: the question)."""
        if self.embedder is None or self.sentences is None:
            return {}
        chosen = [
            (passage, units) for number, passage, units in candidates if number <= self.semantic_passages and units
        ]
        if not chosen:
            return {}
        question = np.asarray(self.embedder.embed_queries([request.message])[0], dtype=np.float32)
        matrices = self.sentences.vectors([passage.chunk for passage, _ in chosen])
        out: dict[tuple[int, int], float] = {}
        for (_, units), matrix in zip(chosen, matrices, strict=True):
            sims = matrix @ question
            out.update({(u.passage, u.order): float(sim) for u, sim in zip(units, sims, strict=True)})
        return out

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
        for piece in sentence_pieces(draft.text):
            yield TextDelta(piece)
