"""Vector stores: Chroma (embedded folder or server) and an in-memory store for tests and evaluation."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np

from knowledge.documents import Chunk, MetadataValue
from knowledge.embeddings import Matrix
from knowledge.errors import KnowledgeError

Filters = Mapping[str, MetadataValue]


class VectorStore(Protocol):
    """Keeps one unit vector per chunk and finds the nearest chunks to a query vector."""

    def upsert(self, chunks: Sequence[Chunk], embeddings: Matrix) -> None: ...

    def delete_documents(self, document_ids: Sequence[str]) -> None: ...

    def query(self, embedding: Matrix, k: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        """The ids of the `k` nearest chunks with their cosine similarity, best first."""
        ...

    def count(self) -> int: ...

    def ping(self) -> None:
        """Raise `KnowledgeError` when the store cannot be reached."""
        ...


def chunk_metadata(chunk: Chunk) -> dict[str, MetadataValue]:
    """The flat metadata stored beside a vector: the chunk's own fields and its document's metadata."""
    meta: dict[str, MetadataValue] = {
        key: value for key, value in chunk.metadata.items() if isinstance(value, str | int | float | bool)
    }
    meta["document_id"] = chunk.document_id
    meta["chunk_index"] = chunk.index
    return meta


def _check_shapes(chunks: Sequence[Chunk], embeddings: Matrix) -> None:
    if embeddings.ndim != 2 or embeddings.shape[0] != len(chunks):
        msg = f"expected one embedding row per chunk ({len(chunks)}), got an array of shape {embeddings.shape}"
        raise ValueError(msg)


class InMemoryVectorStore:
    """Exact cosine search over a matrix held in memory."""

    def __init__(self) -> None:
        self._ids: list[str] = []
        self._meta: list[dict[str, MetadataValue]] = []
        self._rows: dict[str, int] = {}
        self._matrix = np.zeros((0, 0), dtype=np.float32)
        self._lock = threading.Lock()

    def upsert(self, chunks: Sequence[Chunk], embeddings: Matrix) -> None:
        _check_shapes(chunks, embeddings)
        if not chunks:
            return
        with self._lock:
            self._remove({c.id for c in chunks if c.id in self._rows})
            base = np.asarray(embeddings, dtype=np.float32)
            self._matrix = base if self._matrix.size == 0 else np.vstack([self._matrix, base])
            for chunk in chunks:
                self._rows[chunk.id] = len(self._ids)
                self._ids.append(chunk.id)
                self._meta.append(chunk_metadata(chunk))

    def _remove(self, ids: set[str]) -> None:
        if not ids:
            return
        keep = [i for i, chunk_id in enumerate(self._ids) if chunk_id not in ids]
        self._matrix = self._matrix[keep] if keep else np.zeros((0, 0), dtype=np.float32)
        self._ids = [self._ids[i] for i in keep]
        self._meta = [self._meta[i] for i in keep]
        self._rows = {chunk_id: i for i, chunk_id in enumerate(self._ids)}

    def delete_documents(self, document_ids: Sequence[str]) -> None:
        wanted = set(document_ids)
        with self._lock:
            self._remove(
                {cid for cid, meta in zip(self._ids, self._meta, strict=True) if meta["document_id"] in wanted}
            )

    def query(self, embedding: Matrix, k: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        with self._lock:
            if not self._ids:
                return []
            scores = self._matrix @ np.asarray(embedding, dtype=np.float32).reshape(-1)
            if filters:
                mask = np.array([all(meta.get(key) == value for key, value in filters.items()) for meta in self._meta])
                scores = np.where(mask, scores, -np.inf)
            k = min(k, len(self._ids))
            top = np.argpartition(-scores, k - 1)[:k]
            top = top[np.argsort(-scores[top])]
            return [(self._ids[i], float(scores[i])) for i in top if np.isfinite(scores[i])]

    def count(self) -> int:
        return len(self._ids)

    def ping(self) -> None:
        return None


def _where(filters: Filters | None) -> dict[str, Any] | None:
    if not filters:
        return None
    clauses = [{key: {"$eq": value}} for key, value in filters.items()]
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class ChromaVectorStore:
    """Chroma, embedded in a folder (`PersistentClient`) or on a server (`HttpClient`).

    Embeddings are always passed in: Chroma's own default embedding function would download a
    model, which fails offline.
    """

    def __init__(
        self,
        *,
        path: Path | str | None = None,
        host: str | None = None,
        port: int = 8000,
        ssl: bool = False,
        collection: str = "frontdesk",
        upsert_batch: int = 1000,
    ) -> None:
        if (path is None) == (host is None):
            msg = (
                f"give exactly one of path (embedded Chroma) or host (Chroma server); got path={path!r}, host={host!r}"
            )
            raise ValueError(msg)
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        try:
            if path is not None:
                Path(path).mkdir(parents=True, exist_ok=True)
                self._client = chromadb.PersistentClient(path=str(path), settings=settings)
                self.location = f"chroma folder {path}"
            else:
                assert host is not None
                self._client = chromadb.HttpClient(host=host, port=port, ssl=ssl, settings=settings)
                self.location = f"chroma server {host}:{port}"
            self._collection = self._client.get_or_create_collection(
                name=collection,
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
            )
        except Exception as exc:
            msg = f"cannot open the Chroma collection {collection!r} at {path or f'{host}:{port}'}: {exc}"
            raise KnowledgeError(msg) from exc
        self._upsert_batch = upsert_batch

    def upsert(self, chunks: Sequence[Chunk], embeddings: Matrix) -> None:
        _check_shapes(chunks, embeddings)
        for start in range(0, len(chunks), self._upsert_batch):
            part = chunks[start : start + self._upsert_batch]
            self._collection.upsert(
                ids=[c.id for c in part],
                embeddings=np.asarray(embeddings[start : start + self._upsert_batch], dtype=np.float32),
                metadatas=[chunk_metadata(c) for c in part],
            )

    def delete_documents(self, document_ids: Sequence[str]) -> None:
        ids = list(document_ids)
        for start in range(0, len(ids), self._upsert_batch):
            where = cast(Any, {"document_id": {"$in": ids[start : start + self._upsert_batch]}})
            self._collection.delete(where=where)

    def query(self, embedding: Matrix, k: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        result = self._collection.query(
            query_embeddings=np.asarray(embedding, dtype=np.float32).reshape(1, -1),
            n_results=k,
            where=_where(filters),
            include=["distances"],
        )
        ids = result["ids"][0]
        distances = (result["distances"] or [[]])[0]
        return [(chunk_id, 1.0 - float(distance)) for chunk_id, distance in zip(ids, distances, strict=True)]

    def count(self) -> int:
        return int(self._collection.count())

    def ping(self) -> None:
        try:
            self._client.heartbeat()
            self._collection.count()
        except Exception as exc:
            msg = f"{self.location} is not answering: {exc}"
            raise KnowledgeError(msg) from exc
