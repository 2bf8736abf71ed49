"""Retrieval over the knowledge base: lexical (BM25), dense (the vector store) and the hybrid the service uses.

Every retriever answers `search(query, history=..., k=..., filters=...)` with `Passage`s, best
first. `Passage.score` is a grounding confidence in [0, 1] that means the same thing for every
query: for the dense and hybrid retrievers it is the cosine similarity between the query and the
passage (its chunk, or its document's title when that matches better), clipped at 0. With the
default all-MiniLM-L6-v2 model, ≥ 0.6 is usually a paraphrase of the question, ≤ 0.3 unrelated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from knowledge.conversation import (
    DEFAULT_SUBJECT_KEYS,
    Subject,
    SubjectMention,
    SubjectTracker,
    recent_customer_text,
)
from knowledge.documents import Chunk, MetadataValue, Passage, Turn, citation_for
from knowledge.embeddings import Embedder, Matrix
from knowledge.lexical import BM25Index
from knowledge.store import VectorStore

Filters = Mapping[str, MetadataValue]


class Retriever(Protocol):
    """Finds the passages of the knowledge base that answer a customer's message."""

    def search(
        self,
        query: str,
        *,
        history: Sequence[Turn] = (),
        k: int = 5,
        filters: Filters | None = None,
    ) -> list[Passage]:
        """The `k` best passages for `query` read in the context of `history`, best first."""
        ...

    def rebuild(self, chunks: Sequence[Chunk]) -> None:
        """Take a new chunk set (after ingest); the vector store must already hold its vectors."""
        ...


def embedding_text(chunk: Chunk) -> str:
    """The text of a chunk to embed into the vector store: title, section and body.

    Retrievers embed queries against vectors of exactly this text, so ingest must use it too.
    """
    return "\n".join(part for part in (chunk.title, chunk.section, chunk.text) if part)


def _check_k(k: int) -> None:
    if k < 1:
        msg = f"k must be at least 1, got {k}"
        raise ValueError(msg)


def _passage(chunk: Chunk, score: float) -> Passage:
    return Passage(chunk=chunk, score=float(min(max(score, 0.0), 1.0)), citation=citation_for(chunk))


def _context_query(query: str, history: Sequence[Turn], turns: int) -> str:
    context = recent_customer_text(history, turns)
    return f"{context} {query}" if context else query


class LexicalRetriever:
    """BM25 over chunks (title, section and text), English-stemmed.

    With `history_turns` > 0 the last customer turns are prepended to the query. `Passage.score`
    is `s / (s + saturation)` of the BM25 score `s`: monotone, in [0, 1), but not a calibrated confidence.
    """

    def __init__(
        self,
        chunks: Sequence[Chunk],
        store: VectorStore | None = None,
        embedder: Embedder | None = None,
        *,
        history_turns: int = 1,
        saturation: float = 10.0,
    ) -> None:
        if history_turns < 0 or saturation <= 0:
            msg = f"history_turns must be >= 0 and saturation > 0, got {history_turns} and {saturation}"
            raise ValueError(msg)
        self.history_turns = history_turns
        self.saturation = saturation
        self._state: tuple[BM25Index, dict[str, Chunk]] = self._build(chunks)

    @staticmethod
    def _build(chunks: Sequence[Chunk]) -> tuple[BM25Index, dict[str, Chunk]]:
        return BM25Index(chunks), {c.id: c for c in chunks}

    def rebuild(self, chunks: Sequence[Chunk]) -> None:
        """Re-index a new chunk set."""
        self._state = self._build(chunks)

    def search(
        self, query: str, *, history: Sequence[Turn] = (), k: int = 5, filters: Filters | None = None
    ) -> list[Passage]:
        """The `k` chunks with the highest BM25 score."""
        _check_k(k)
        index, by_id = self._state
        hits = index.search(_context_query(query, history, self.history_turns), k, filters)
        return [_passage(by_id[cid], s / (s + self.saturation)) for cid, s in hits]


class DenseRetriever:
    """Nearest chunks to the query's embedding in the vector store.

    With `history_turns` > 0 the last customer turns are prepended to the query before encoding.
    """

    def __init__(
        self,
        chunks: Sequence[Chunk],
        store: VectorStore,
        embedder: Embedder,
        *,
        history_turns: int = 1,
    ) -> None:
        if history_turns < 0:
            msg = f"history_turns must be >= 0, got {history_turns}"
            raise ValueError(msg)
        self.store = store
        self.embedder = embedder
        self.history_turns = history_turns
        self._by_id = {c.id: c for c in chunks}

    def rebuild(self, chunks: Sequence[Chunk]) -> None:
        """Take a new chunk set."""
        self._by_id = {c.id: c for c in chunks}

    def search(
        self, query: str, *, history: Sequence[Turn] = (), k: int = 5, filters: Filters | None = None
    ) -> list[Passage]:
        """The `k` chunks whose vectors are nearest to the query's."""
        _check_k(k)
        vector = self.embedder.embed_queries([_context_query(query, history, self.history_turns)])[0]
        by_id = self._by_id
        hits = self.store.query(vector, k, filters)
        return [_passage(by_id[cid], cos) for cid, cos in hits if cid in by_id]


@dataclass(frozen=True, slots=True)
class HybridConfig:
    """Weights and sizes of `HybridRetriever`.

    A document's ranking score is `dense_weight * best chunk cosine + title_weight * title cosine
    + lexical_weight * best chunk BM25 / best BM25 of the query`, plus `subject_boost` when it is
    about the subject the conversation is about. `candidates` chunks are taken from each of the
    vector store and BM25. `context_weight` mixes the last customer turn into the query when the
    conversation has no recognised subject.
    """

    dense_weight: float = 1.0
    title_weight: float = 0.5
    lexical_weight: float = 0.2
    subject_boost: float = 1.0
    candidates: int = 50
    max_subjects: int = 4
    context_weight: float = 0.3
    passages_per_document: int = 1

    def __post_init__(self) -> None:
        weights = {
            "dense_weight": self.dense_weight,
            "title_weight": self.title_weight,
            "lexical_weight": self.lexical_weight,
            "subject_boost": self.subject_boost,
            "context_weight": self.context_weight,
        }
        negative = {name: value for name, value in weights.items() if value < 0}
        if negative:
            msg = f"hybrid weights must be >= 0, got {negative}"
            raise ValueError(msg)
        if self.candidates < 1 or self.max_subjects < 0 or self.passages_per_document < 1:
            msg = (
                "candidates and passages_per_document must be >= 1 and max_subjects >= 0, got "
                f"candidates={self.candidates}, passages_per_document={self.passages_per_document}, "
                f"max_subjects={self.max_subjects}"
            )
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class _Index:
    chunks: tuple[Chunk, ...]  # in BM25 row order
    bm25: BM25Index
    title_matrix: Matrix  # one unit vector per document
    shared_title: npt.NDArray[np.bool_]  # per document: its title is not its own
    chunk_doc: npt.NDArray[np.int64]  # per chunk: its document's row
    doc_chunks: list[npt.NDArray[np.int64]]  # per document: its chunks' rows
    doc_row: dict[str, int]
    tracker: SubjectTracker


class HybridRetriever:
    """What Frontdesk uses: dense + title + BM25 evidence fused per document, in the conversation's context.

    - The query is embedded once and compared with chunk vectors (through the vector store) and with
      each document's title (kept in memory; FAQ questions are paraphrases of a title).
    - BM25 scores every chunk; scores are divided by the query's best score to be comparable.
    - Evidence is combined linearly per chunk (see `HybridConfig`); a document ranks by its best chunk.
    - The subject of the conversation (metadata key in `subject_keys`, else a shared title prefix)
      is tracked over the question and history; its documents are searched with a store filter and
      boosted above the others. Without a subject, the last customer turn is mixed into the query.
    """

    def __init__(
        self,
        chunks: Sequence[Chunk],
        store: VectorStore,
        embedder: Embedder,
        *,
        config: HybridConfig | None = None,
        subject_keys: Sequence[str] = DEFAULT_SUBJECT_KEYS,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.config = config or HybridConfig()
        self.subject_keys = tuple(subject_keys)
        self._title_cache: dict[str, npt.NDArray[np.float32]] = {}
        self._index = self._build(chunks)

    def rebuild(self, chunks: Sequence[Chunk]) -> None:
        """Re-index a new chunk set; only titles not seen before are embedded."""
        self._index = self._build(chunks)

    def _build(self, chunks: Sequence[Chunk]) -> _Index:
        chunks = tuple(chunks)
        doc_row: dict[str, int] = {}
        titles: list[str] = []
        for chunk in chunks:
            if chunk.document_id not in doc_row:
                doc_row[chunk.document_id] = len(titles)
                titles.append(chunk.title)
        missing = sorted({t for t in titles if t not in self._title_cache})
        if missing:
            vectors = np.asarray(self.embedder.embed_documents(missing), dtype=np.float32)
            self._title_cache.update(zip(missing, vectors, strict=True))
        if titles:
            matrix = np.stack([self._title_cache[t] for t in titles]).astype(np.float32)
        else:
            matrix = np.zeros((0, self.embedder.dimension), dtype=np.float32)
        title_count: dict[str, int] = {}
        for title in titles:
            title_count[title] = title_count.get(title, 0) + 1
        chunk_doc = np.array([doc_row[c.document_id] for c in chunks], dtype=np.int64)
        order = np.argsort(chunk_doc, kind="stable")
        bounds = np.searchsorted(chunk_doc[order], np.arange(len(titles) + 1))
        return _Index(
            chunks=chunks,
            bm25=BM25Index(chunks),
            title_matrix=matrix,
            shared_title=np.array([title_count[t] > 1 for t in titles], dtype=bool),
            chunk_doc=chunk_doc,
            doc_chunks=[order[bounds[i] : bounds[i + 1]] for i in range(len(titles))],
            doc_row=doc_row,
            tracker=SubjectTracker.from_chunks(chunks, self.subject_keys),
        )

    def subject_of(self, query: str, history: Sequence[Turn] = ()) -> SubjectMention | None:
        """The subject(s) the conversation is about, if the knowledge base has subjects and one is named."""
        return self._index.tracker.track(query, history)

    def search(
        self, query: str, *, history: Sequence[Turn] = (), k: int = 5, filters: Filters | None = None
    ) -> list[Passage]:
        """The `k` best passages, at most `passages_per_document` per document, best first."""
        _check_k(k)
        index = self._index  # one consistent snapshot even if rebuild() runs meanwhile
        cfg = self.config
        if not index.chunks:
            return []
        mention = index.tracker.track(query, history) if cfg.subject_boost > 0 else None
        subjects: tuple[Subject, ...] = mention.subjects[: cfg.max_subjects] if mention else ()
        context = "" if subjects or cfg.context_weight == 0 else recent_customer_text(history, 1)
        vector = self._query_vector(query, context)
        n = max(cfg.candidates, 2 * k)
        allowed = index.bm25.mask(filters)

        # dense evidence from the store: the subject's documents when there is one, else everything
        dense_hits: list[tuple[str, float]] = []
        keyed = [s for s in subjects if s.key is not None]
        for subject in keyed:
            dense_hits += self.store.query(vector, n, {**(filters or {}), str(subject.key): subject.name})
        if len(keyed) < len(subjects) or not subjects:
            dense_hits += self.store.query(vector, n, filters)
        rows: list[int] = []
        cosines: list[float] = []
        for cid, cos in dense_hits:
            row = index.bm25.position(cid)
            if row is not None:
                rows.append(row)
                cosines.append(cos)

        # lexical evidence for every chunk, relative to the query's best match
        lexical = index.bm25.scores(query, filters)
        if context:
            lexical = lexical + np.float32(cfg.context_weight) * index.bm25.scores(context, filters)
        best_lexical = float(lexical.max())
        if best_lexical > 0:
            lexical = lexical / np.float32(best_lexical)

        # candidates: dense and lexical hits, and every chunk of the subject's documents
        subject_rows = np.array(
            sorted({index.doc_row[d] for s in subjects for d in s.document_ids if d in index.doc_row}), dtype=np.int64
        )
        m = min(n, lexical.size)
        parts = [np.array(rows, dtype=np.int64), np.argpartition(-lexical, m - 1)[:m]]
        parts += [index.doc_chunks[d] for d in subject_rows.tolist()]
        candidates = np.unique(np.concatenate(parts))
        if allowed is not None:
            candidates = candidates[allowed[candidates]]
        if candidates.size == 0:
            return []
        docs = index.chunk_doc[candidates]
        # title evidence, for the candidates' documents only (a full matrix product costs ms at 10k documents)
        unique_docs, inverse = np.unique(docs, return_inverse=True)
        title_cos = (index.title_matrix[unique_docs] @ vector)[inverse]

        # chunks the store did not return are at most as near as the farthest one it returned
        all_cos = np.full(len(index.chunks), min(cosines, default=0.0), dtype=np.float32)
        if rows:
            np.maximum.at(all_cos, np.array(rows, dtype=np.int64), np.array(cosines, dtype=np.float32))
        cos = all_cos[candidates]
        # a title shared by several documents ("Acme — review") says nothing of this one: use its text instead
        title = np.where(index.shared_title[docs], cos, title_cos)
        score = cfg.dense_weight * cos + cfg.title_weight * title + cfg.lexical_weight * lexical[candidates]
        if subject_rows.size:
            score = score + cfg.subject_boost * np.isin(docs, subject_rows)
        confidence = np.maximum(cos, title)

        passages: list[Passage] = []
        per_document: dict[int, int] = {}
        for i in np.lexsort((candidates, -score)):
            doc = int(docs[i])
            taken = per_document.get(doc, 0)
            if taken >= cfg.passages_per_document:
                continue
            per_document[doc] = taken + 1
            passages.append(_passage(index.chunks[int(candidates[i])], float(confidence[i])))
            if len(passages) == k:
                break
        return passages

    def _query_vector(self, query: str, context: str) -> npt.NDArray[np.float32]:
        if not context:
            return np.asarray(self.embedder.embed_queries([query])[0], dtype=np.float32)
        both = self.embedder.embed_queries([query, context])
        mixed = both[0] + self.config.context_weight * both[1]
        return np.asarray(mixed / (np.linalg.norm(mixed) or 1.0), dtype=np.float32)
