"""Suggested replies for the person who holds a conversation: the support agent's retrieval and its offline
writer run on the customer's latest question, giving up to three short answers, each from other articles,
each with the knowledge-base citations it rests on. They are suggestions only: nothing is ever sent until a
person writes (or adopts) a reply.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from agent.agent import KnowledgeSearch
from agent.escalation import asks_for_human
from agent.extractive import ExtractiveWriter
from agent.grounding import GroundingChecker, strip_markers
from agent.knowledge_gate import seeks_knowledge
from agent.rewrite import OfflineRewriter
from agent.types import AnswerRequest
from conversations.store import StoredMessage
from knowledge.documents import Citation, Passage, Turn

HISTORY_TURNS = 10
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A reply a person may adopt, and the passages it comes from."""

    text: str
    citations: tuple[Citation, ...]
    score: float


@dataclass(frozen=True, slots=True)
class Suggestions:
    """The question the suggestions answer (None when the customer asked nothing answerable) and them."""

    question: str | None
    items: tuple[Suggestion, ...]


def latest_question(messages: Sequence[StoredMessage]) -> tuple[str | None, tuple[Turn, ...]]:
    """The customer's latest message that asks for information (redacted; without the sentences that only ask
    for a person), and the turns before it."""
    turns = [(m, Turn(role="customer" if m.role == "customer" else "agent", text=m.text)) for m in messages]
    turns = [(m, t) for m, t in turns if m.role in {"customer", "agent", "human"}]
    for index in range(len(turns) - 1, -1, -1):
        message, _ = turns[index]
        question = _asking(message.text) if message.role == "customer" else None
        if question is not None:
            history = tuple(turn for _, turn in turns[:index])[-HISTORY_TURNS:]
            return question, history
    return None, ()


def _asking(text: str) -> str | None:
    """The part of a customer's message that seeks information, if any."""
    sentences = [part.strip() for part in _SENTENCE_END.split(text) if part.strip()]
    kept = " ".join(sentence for sentence in sentences if not asks_for_human(sentence))
    return kept if kept and seeks_knowledge(kept) else None


class ReplySuggester:
    """Writes up to `limit` grounded suggestions from the knowledge base (passages below `min_score` are not
    used)."""

    def __init__(
        self,
        knowledge: KnowledgeSearch,
        writer: ExtractiveWriter,
        *,
        checker: GroundingChecker | None = None,
        rewriter: OfflineRewriter | None = None,
        min_score: float = 0.35,
        passages: int = 8,
        limit: int = 3,
    ) -> None:
        if not 1 <= limit <= 5:
            msg = f"limit must be between 1 and 5, got {limit}"
            raise ValueError(msg)
        self.knowledge = knowledge
        self.writer = writer
        self.checker = checker or GroundingChecker()
        self.rewriter = rewriter or OfflineRewriter()
        self.min_score = min_score
        self.passages = passages
        self.limit = limit

    def suggest(self, messages: Sequence[StoredMessage]) -> Suggestions:
        """Suggestions for the customer's latest question in `messages` (oldest first); none when the
        customer asked nothing the knowledge base could answer."""
        question, history = latest_question(messages)
        if question is None:
            return Suggestions(None, ())
        standalone = self.rewriter.rewrite_now(question, history)
        found = self.knowledge.search(standalone, history=history, k=self.passages)
        pool = [passage for passage in found if passage.score >= self.min_score]
        items: list[Suggestion] = []
        while pool and len(items) < self.limit:
            suggestion, used = self._one(question, standalone, history, pool)
            if not used:
                break
            if suggestion is not None and suggestion.text not in {item.text for item in items}:
                items.append(suggestion)
            spent = {pool[number - 1].citation.document_id for number in used}
            pool = [passage for passage in pool if passage.citation.document_id not in spent]
        return Suggestions(question, tuple(items))

    def _one(
        self, question: str, standalone: str, history: tuple[Turn, ...], pool: list[Passage]
    ) -> tuple[Suggestion | None, tuple[int, ...]]:
        request = AnswerRequest(question=standalone, message=question, history=history, passages=pool)
        draft = self.writer.compose(request)
        if not draft.text or not draft.cited:
            return None, ()
        report = self.checker.check(draft.text, pool, draft.cited)
        if not report.fully_supported:
            return None, draft.cited
        text = _clean(strip_markers(report.supported_text))
        citations = tuple(pool[number - 1].citation for number in draft.cited)
        score = max(pool[number - 1].score for number in draft.cited)
        return Suggestion(text=text, citations=citations, score=round(score, 4)), draft.cited


def _clean(text: str) -> str:
    """Text without the spaces that removed markers leave behind (before punctuation, doubled)."""
    lines = [re.sub(r"[ \t]+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", line)).strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line)
