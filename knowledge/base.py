"""The knowledge base service: incremental ingestion into the catalogue and vector store, and search."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from knowledge.catalog import Catalog, DocumentInfo
from knowledge.chunking import ChunkingConfig, chunk_document
from knowledge.documents import Chunk, Document, MetadataValue, Passage, Turn
from knowledge.embeddings import Embedder
from knowledge.errors import DocumentNotFoundError
from knowledge.loaders import SourceResult, file_document_id, is_url, iter_source_documents
from knowledge.retrieval import HybridRetriever, embedding_text
from knowledge.sentences import SentenceVectors
from knowledge.store import VectorStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SourceFailure:
    """A source that could not be ingested, with the reason."""

    source: str
    reason: str


@dataclass(slots=True)
class IngestReport:
    """What an ingest did, document by document."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failed: list[SourceFailure] = field(default_factory=list)
    chunks_embedded: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "failed": [{"source": f.source, "reason": f.reason} for f in self.failed],
            "chunks_embedded": self.chunks_embedded,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True, slots=True)
class IngestProgress:
    """Progress of the embedding phase of an ingest, in chunks."""

    done: int
    total: int


ProgressCallback = Callable[[IngestProgress], None]


class KnowledgeBase:
    """Ingests sources incrementally and answers searches; safe to share between threads.

    Documents are keyed by id and carry a content hash: unchanged documents are not embedded
    again, changed ones are replaced, and documents that vanished from a re-ingested source
    (folder, JSONL file, sitemap) are deleted. A source that fails to load keeps what it had.
    Ingest also embeds every chunk's sentences (`sentences`, stored in the catalogue beside the
    chunk), so an answer writer scores them without running the encoder at question time.
    """

    def __init__(
        self,
        *,
        catalog: Catalog,
        store: VectorStore,
        embedder: Embedder,
        chunking: ChunkingConfig | None = None,
        embed_batch_chunks: int = 256,
        refresh_interval: float = 2.0,
        sentence_cache_bytes: int = 32 * 2**20,
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.embedder = embedder
        self.chunking = chunking or ChunkingConfig()
        self._embed_batch = embed_batch_chunks
        self._refresh_interval = refresh_interval
        self._write_lock = threading.Lock()
        self._index_lock = threading.Lock()
        self._revision = catalog.revision()
        self._checked_at = time.monotonic()
        self.retriever = HybridRetriever(catalog.chunks(), store, embedder)
        self.sentences = SentenceVectors(embedder, store=catalog, cache_bytes=sentence_cache_bytes)

    # -- search -----------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        history: Sequence[Turn] = (),
        k: int = 5,
        filters: Mapping[str, MetadataValue] | None = None,
    ) -> list[Passage]:
        """The passages that best answer `query` in the context of `history`, best first."""
        if not query.strip():
            msg = "the query is empty"
            raise ValueError(msg)
        if not 1 <= k <= 100:
            msg = f"k must be between 1 and 100, got {k}"
            raise ValueError(msg)
        self._refresh_if_changed()
        return self.retriever.search(query, history=history, k=k, filters=filters)

    def _refresh_if_changed(self) -> None:
        """Pick up changes another process made to the catalogue (checked at most every few seconds)."""
        now = time.monotonic()
        if now - self._checked_at < self._refresh_interval:
            return
        self._checked_at = now
        revision = self.catalog.revision()
        if revision != self._revision:
            self.reload()

    def reload(self) -> None:
        """Rebuild the in-memory indexes from the catalogue."""
        with self._index_lock:
            revision = self.catalog.revision()
            self.retriever.rebuild(self.catalog.chunks())
            self._revision = revision

    # -- documents ----------------------------------------------------------------------------

    def documents(self, *, limit: int | None = None, offset: int = 0) -> list[DocumentInfo]:
        return self.catalog.documents(limit=limit, offset=offset)

    def document(self, document_id: str) -> tuple[DocumentInfo, list[Chunk]]:
        info = self.catalog.document(document_id)
        if info is None:
            msg = f"no document with id {document_id!r}"
            raise DocumentNotFoundError(msg)
        return info, self.catalog.chunks(document_id)

    def delete(self, document_ids: Sequence[str]) -> int:
        """Delete documents from the vector store and the catalogue."""
        with self._write_lock:
            self.store.delete_documents(document_ids)
            deleted = self.catalog.delete(document_ids)
        self.reload()
        return deleted

    # -- ingest -------------------------------------------------------------------------------

    def ingest(
        self,
        sources: Sequence[str],
        *,
        prune: bool = True,
        progress: ProgressCallback | None = None,
        http: httpx.Client | None = None,
    ) -> IngestReport:
        """Ingest files, folders, URLs or sitemaps; each argument is one origin for pruning."""
        started = time.perf_counter()
        report = IngestReport()
        loaded: list[tuple[str, list[SourceResult]]] = []
        for origin in sources:
            loaded.append((origin, list(iter_source_documents(origin, http=http))))
        with self._write_lock:
            plan: list[tuple[str, Document]] = []
            for origin, results in loaded:
                plan.extend(self._plan_origin(origin, results, report, prune=prune))
            self._embed_and_save(plan, report, progress)
        self.reload()
        report.seconds = time.perf_counter() - started
        return report

    def ingest_documents(self, documents: Iterable[Document], *, origin: str, prune: bool = False) -> IngestReport:
        """Ingest documents built by the caller (an upload, an export) under one origin."""
        started = time.perf_counter()
        report = IngestReport()
        result = SourceResult(source=origin, documents=list(documents), error=None)
        with self._write_lock:
            plan = self._plan_origin(origin, [result], report, prune=prune)
            self._embed_and_save(plan, report, None)
        self.reload()
        report.seconds = time.perf_counter() - started
        return report

    def ingest_uploads(self, paths: Sequence[str]) -> IngestReport:
        """Ingest uploaded files kept in a temporary place, naming them `upload:<file name>`.

        A file's documents are keyed by the upload name (or by their own ids in a JSONL export),
        so uploading a file again replaces what the earlier upload of that name brought.
        """
        started = time.perf_counter()
        report = IngestReport()
        with self._write_lock:
            plan: list[tuple[str, Document]] = []
            for path in paths:
                name = f"upload:{Path(path).name}"
                results = []
                for result in iter_source_documents(path):
                    docs = None
                    if result.documents is not None:
                        docs = [
                            dataclasses.replace(
                                doc, id=name if doc.id == file_document_id(Path(path)) else doc.id, source=name
                            )
                            for doc in result.documents
                        ]
                    results.append(SourceResult(source=name, documents=docs, error=result.error))
                plan.extend(self._plan_origin(name, results, report, prune=True))
            self._embed_and_save(plan, report, None)
        self.reload()
        report.seconds = time.perf_counter() - started
        return report

    def _plan_origin(
        self, origin: str, results: list[SourceResult], report: IngestReport, *, prune: bool
    ) -> list[tuple[str, Document]]:
        seen_ids: set[str] = set()
        failed_sources: set[str] = set()
        docs: list[Document] = []
        for result in results:
            if result.error is not None or result.documents is None:
                reason = getattr(result.error, "reason", None) or str(result.error)
                report.failed.append(SourceFailure(result.source, reason))
                failed_sources.add(result.source)
                continue
            for doc in result.documents:
                if doc.id in seen_ids:
                    report.failed.append(SourceFailure(doc.source, f"duplicate document id {doc.id!r}; kept the first"))
                    continue
                seen_ids.add(doc.id)
                docs.append(doc)
        known = self.catalog.hashes(d.id for d in docs)
        plan: list[tuple[str, Document]] = []
        for doc in docs:
            old = known.get(doc.id)
            if old == doc.content_hash():
                report.unchanged.append(doc.id)
            else:
                (report.updated if old is not None else report.added).append(doc.id)
                plan.append((origin, doc))
        if prune and _safe_to_prune(origin, results):
            stale = [
                info.id
                for info in self.catalog.documents(origin=origin)
                if info.id not in seen_ids and info.source not in failed_sources
            ]
            if stale:
                self.store.delete_documents(stale)
                self.catalog.delete(stale)
                report.deleted.extend(stale)
        return plan

    def _embed_and_save(
        self, plan: list[tuple[str, Document]], report: IngestReport, progress: ProgressCallback | None
    ) -> None:
        """Embed in batches of about `embed_batch_chunks` chunks; save each batch once its vectors are stored."""
        total = 0
        chunked: list[tuple[str, Document, list[Chunk]]] = []
        for origin, doc in plan:
            chunks = chunk_document(doc, self.chunking)
            chunked.append((origin, doc, chunks))
            total += len(chunks)
        done = 0
        if progress is not None:
            progress(IngestProgress(done, total))
        batch: list[tuple[str, Document, list[Chunk]]] = []
        size = 0
        for item in chunked:
            batch.append(item)
            size += len(item[2])
            if size >= self._embed_batch:
                done += self._flush(batch, report)
                batch, size = [], 0
                if progress is not None:
                    progress(IngestProgress(done, total))
        if batch:
            done += self._flush(batch, report)
            if progress is not None:
                progress(IngestProgress(done, total))

    def _flush(self, batch: list[tuple[str, Document, list[Chunk]]], report: IngestReport) -> int:
        chunks = [c for _, _, cs in batch for c in cs]
        vectors = self.embedder.embed_documents([embedding_text(c) for c in chunks])
        sentence_vectors = dict(zip((c.id for c in chunks), self.sentences.encode(chunks), strict=True))
        self.store.delete_documents([doc.id for _, doc, _ in batch])
        if chunks:
            self.store.upsert(chunks, vectors)
        by_origin: dict[str, list[tuple[Document, Sequence[Chunk]]]] = {}
        for origin, doc, cs in batch:
            by_origin.setdefault(origin, []).append((doc, cs))
        for origin, items in by_origin.items():
            self.catalog.save(items, origin, sentence_vectors)
        report.chunks_embedded += len(chunks)
        return len(chunks)


def _safe_to_prune(origin: str, results: list[SourceResult]) -> bool:
    """Whether documents missing from this load may be deleted.

    A folder or file reports each failing file by name, so its other documents are known to be
    gone. A sitemap that fails part-way (a nested sitemap, a limit) hides which pages still exist,
    so a web origin with any failure is left as it is; so is an origin that failed entirely.
    """
    failures = [r for r in results if r.error is not None]
    if not results or len(failures) == len(results):
        return False
    return not (failures and is_url(origin))
