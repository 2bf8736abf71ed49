"""Dialogue evaluation: replay conversation turns through the agent and measure what it answered and cited."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio

from agent.agent import AgentDeps, ConversationMemory, SupportAgent
from agent.escalation import EscalationPolicy
from agent.extractive import ExtractiveWriter
from agent.grounding import GroundingChecker, strip_markers
from evaluation.retrieval import _collection_name, _parse_history, index_chunks, load_chunks
from knowledge.documents import Passage, Turn
from knowledge.embeddings import Embedder
from knowledge.errors import KnowledgeError
from knowledge.loaders import iter_jsonl_objects
from knowledge.retrieval import HybridRetriever
from knowledge.store import ChromaVectorStore


@dataclass(frozen=True, slots=True)
class DialogueTurn:
    """One customer turn with its gold labels."""

    id: str
    history: tuple[Turn, ...]
    question: str
    needs_knowledge: bool
    relevant_ids: tuple[str, ...]


def load_turns(path: Path) -> list[DialogueTurn]:
    """Dialogue turns (`{"id","history","question","needs_knowledge","relevant_ids","answer"}` a line)."""
    turns: list[DialogueTurn] = []
    for number, (where, record) in enumerate(iter_jsonl_objects(Path(path)), start=1):
        question, needs = record.get("question"), record.get("needs_knowledge")
        if not isinstance(question, str) or not question.strip():
            msg = f"{where}: missing the 'question' text"
            raise KnowledgeError(msg)
        if not isinstance(needs, bool):
            msg = f"{where}: 'needs_knowledge' must be true or false (this command takes dialogue turns)"
            raise KnowledgeError(msg)
        relevant = record.get("relevant_ids") or []
        if not isinstance(relevant, list) or not all(isinstance(r, str) for r in relevant):
            msg = f"{where}: 'relevant_ids' must be a list of document ids"
            raise KnowledgeError(msg)
        turns.append(
            DialogueTurn(
                id=str(record.get("id", number)),
                history=_parse_history(record.get("history"), where),
                question=question,
                needs_knowledge=needs,
                relevant_ids=tuple(relevant),
            )
        )
    if not turns:
        msg = f"{path}: the file holds no turns"
        raise KnowledgeError(msg)
    return turns


class _RecordingSearch:
    """The knowledge search, remembering the passages it returned last (to check answers against them)."""

    def __init__(self, retriever: HybridRetriever) -> None:
        self.retriever = retriever
        self.last: list[Passage] = []

    def search(self, query: str, **kwargs: object) -> list[Passage]:
        self.last = self.retriever.search(query, **kwargs)  # type: ignore[arg-type]
        return self.last


def _safe_div(a: float, b: float) -> float:
    return round(a / b, 4) if b else 0.0


async def _replay(agent: SupportAgent, search: _RecordingSearch, turns: Sequence[DialogueTurn]) -> dict[str, float]:
    checker = GroundingChecker()
    answered_and_needed = answered = needed = 0
    recall_sum = 0.0
    recall_n = 0
    retrieved_recall_sum = 0.0
    supported = answers = 0
    for turn in turns:
        reply = await agent.reply(turn.question, ConversationMemory(history=turn.history))
        took = reply.answered_from_knowledge
        answered += took
        needed += turn.needs_knowledge
        answered_and_needed += took and turn.needs_knowledge
        if turn.needs_knowledge and turn.relevant_ids:
            gold = set(turn.relevant_ids)
            cited = {c.document_id for c in reply.citations[:5]}
            recall_sum += len(gold & cited) / len(gold)
            consulted = {p.citation.document_id for p in search.last[:5]}
            retrieved_recall_sum += len(gold & consulted) / len(gold)
            recall_n += 1
        if took:
            answers += 1
            body = reply.text.split("\n\n")[0]
            cited_numbers = tuple(i + 1 for i, p in enumerate(search.last) if p.citation in reply.citations)
            report = checker.check(strip_markers(body), search.last, cited_numbers)
            supported += report.fully_supported
    return {
        "n_turns": len(turns),
        "needs_knowledge_precision": _safe_div(answered_and_needed, answered),
        "needs_knowledge_recall": _safe_div(answered_and_needed, needed),
        "recall_at_5": _safe_div(recall_sum, recall_n),
        "retrieved_recall_at_5": _safe_div(retrieved_recall_sum, recall_n),
        "supported_answer_rate": _safe_div(supported, answers),
        "answers": answers,
    }


def run_dialogue_eval(kb_path: Path, turns_path: Path, *, embedder: Embedder, workdir: Path) -> dict[str, float]:
    """Replay every turn through the offline agent (fresh memory holding the turn's history)."""
    turns = load_turns(turns_path)
    chunks = load_chunks(Path(kb_path))
    store = ChromaVectorStore(path=Path(workdir) / "chroma", collection=_collection_name(chunks, embedder))
    if store.count() != len(chunks):
        index_chunks(chunks, store, embedder)
    search = _RecordingSearch(HybridRetriever(chunks, store, embedder))
    agent = SupportAgent(
        AgentDeps(knowledge=search, policy=EscalationPolicy(), offline=ExtractiveWriter(embedder=embedder))
    )
    return anyio.run(_replay, agent, search, turns)
