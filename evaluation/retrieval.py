"""Retrieval evaluation: lexical, dense and Frontdesk's hybrid retriever on a knowledge base and its questions."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evaluation.metrics import document_ranking, mean_metrics, ranking_metrics
from knowledge.chunking import chunk_document
from knowledge.conversation import recent_customer_text
from knowledge.documents import Chunk, Turn
from knowledge.embeddings import Embedder
from knowledge.errors import KnowledgeError
from knowledge.loaders import iter_jsonl_objects, load_file
from knowledge.retrieval import DenseRetriever, HybridRetriever, LexicalRetriever, Retriever, embedding_text
from knowledge.store import ChromaVectorStore, VectorStore

RANKING_DEPTH = 10
# passages asked of each retriever: enough to fill RANKING_DEPTH distinct documents
PASSAGES_ASKED = 40
EMBED_BATCH = 256


@dataclass(frozen=True, slots=True)
class EvalQuestion:
    """One question to evaluate: its text, the conversation before it and the relevant document ids."""

    id: str
    question: str
    relevant_ids: tuple[str, ...]
    history: tuple[Turn, ...] = ()


def _bad(where: str, reason: str) -> KnowledgeError:
    return KnowledgeError(f"{where}: {reason}")


def _parse_history(value: object, where: str) -> tuple[Turn, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _bad(where, f"'history' must be a list of {{role, text}} objects, got {type(value).__name__}")
    turns: list[Turn] = []
    for number, item in enumerate(value):
        if not isinstance(item, dict):
            raise _bad(where, f"history[{number}] must be an object, got {type(item).__name__}")
        role, text = item.get("role"), item.get("text")
        if role not in ("customer", "agent"):
            raise _bad(where, f"history[{number}] has role {role!r}; expected 'customer' or 'agent'")
        if not isinstance(text, str):
            raise _bad(where, f"history[{number}] has no 'text' string")
        turns.append(Turn(role=role, text=text))
    return tuple(turns)


def load_questions(path: Path) -> list[EvalQuestion]:
    """Questions (`{"id","question","relevant_ids"}`) or dialogue turns (`{..., "history", "needs_knowledge"}`).

    Dialogue turns with `needs_knowledge` false are skipped. Raises `KnowledgeError` naming the file
    and line of a malformed record.
    """
    questions: list[EvalQuestion] = []
    seen: set[str] = set()
    for where, record in iter_jsonl_objects(path):
        qid = record.get("id")
        if not isinstance(qid, str | int) or str(qid).strip() == "":
            raise _bad(where, "missing the 'id' field")
        if str(qid) in seen:
            raise _bad(where, f"duplicate id {qid!r}")
        seen.add(str(qid))
        needs = record.get("needs_knowledge", True)
        if not isinstance(needs, bool):
            raise _bad(where, f"'needs_knowledge' must be true or false, got {needs!r}")
        history = _parse_history(record.get("history"), where)
        if not needs:
            continue
        question = record.get("question")
        if not isinstance(question, str) or not question.strip():
            raise _bad(where, f"question {qid!r} has no 'question' text")
        relevant = record.get("relevant_ids")
        if (
            not isinstance(relevant, list)
            or not relevant
            or not all(isinstance(r, str | int) and str(r) for r in relevant)
        ):
            raise _bad(where, f"question {qid!r} needs 'relevant_ids': a non-empty list of document ids")
        questions.append(EvalQuestion(str(qid), question, tuple(str(r) for r in relevant), history))
    if not questions:
        msg = f"{path}: the file holds no questions to evaluate"
        raise KnowledgeError(msg)
    return questions


def load_chunks(kb_path: Path) -> list[Chunk]:
    """The chunks of a knowledge-base file, as ingest would make them."""
    return [chunk for document in load_file(kb_path) for chunk in chunk_document(document)]


def index_chunks(chunks: Sequence[Chunk], store: VectorStore, embedder: Embedder, batch: int = EMBED_BATCH) -> None:
    """Embed chunks in batches and upsert them into the store."""
    for start in range(0, len(chunks), batch):
        part = chunks[start : start + batch]
        store.upsert(part, np.asarray(embedder.embed_documents([embedding_text(c) for c in part]), dtype=np.float32))


def _collection_name(chunks: Sequence[Chunk], embedder: Embedder) -> str:
    digest = hashlib.sha256(embedder.name.encode())
    for chunk in chunks:
        digest.update(b"\0" + chunk.id.encode() + b"\0" + embedding_text(chunk).encode())
        digest.update(json.dumps(dict(chunk.metadata), sort_keys=True, default=str).encode())
    return f"eval-{digest.hexdigest()[:24]}"


def warm_query_cache(embedder: Embedder, questions: Sequence[EvalQuestion], batch: int = EMBED_BATCH) -> None:
    """Encode, in batches, the query texts the retrievers will ask for, so that their one-by-one calls hit
    the embedder's query cache (batching is several times faster than encoding one query at a time)."""
    texts: dict[str, None] = {}
    for q in questions:
        context = recent_customer_text(q.history, 1)
        texts.update(dict.fromkeys([q.question, context, f"{context} {q.question}"] if context else [q.question]))
    unique = list(texts)
    for start in range(0, len(unique), batch):
        embedder.embed_queries(unique[start : start + batch])


def evaluate_retriever(retriever: Retriever, questions: Sequence[EvalQuestion]) -> dict[str, float]:
    """Mean document-level metrics of one retriever over the questions."""
    per_question = []
    for q in questions:
        passages = retriever.search(q.question, history=q.history, k=PASSAGES_ASKED)
        ranking = document_ranking(passages)[:RANKING_DEPTH]
        per_question.append(ranking_metrics(ranking, q.relevant_ids))
    return mean_metrics(per_question)


def run_retrieval_eval(kb_path: Path, questions_path: Path, *, embedder: Embedder, workdir: Path) -> dict:
    """Evaluate lexical, dense and Frontdesk's retrieval on a knowledge base and a questions file.

    The knowledge base is chunked and embedded into a Chroma folder under `workdir` (reused when the
    same chunks were embedded by the same model before). Returns `{"n_questions": N, "methods":
    {"lexical": M, "dense": M, "frontdesk": M}}`, each M holding recall@1/5/10, MRR@10 and nDCG@10.
    """
    kb_path, questions_path = Path(kb_path), Path(questions_path)
    questions = load_questions(questions_path)
    chunks = load_chunks(kb_path)
    store = ChromaVectorStore(path=Path(workdir) / "chroma", collection=_collection_name(chunks, embedder))
    if store.count() != len(chunks):
        index_chunks(chunks, store, embedder)
    warm_query_cache(embedder, questions)
    retrievers: dict[str, Retriever] = {
        "lexical": LexicalRetriever(chunks, store, embedder),
        "dense": DenseRetriever(chunks, store, embedder),
        "frontdesk": HybridRetriever(chunks, store, embedder),
    }
    return {
        "n_questions": len(questions),
        "methods": {name: evaluate_retriever(r, questions) for name, r in retrievers.items()},
    }
