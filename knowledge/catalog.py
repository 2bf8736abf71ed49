"""The document catalogue: documents, their content hashes, their chunks and their sentence vectors, in SQL.

The catalogue is the source of truth for what is ingested; the vector store holds one vector per
chunk of it. Beside each chunk it keeps the vectors of the chunk's sentences (see
`knowledge.sentences`), replaced and deleted with the chunk. The knowledge part owns these tables;
`frontdesk` gives them an engine and migrations.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from knowledge.documents import Chunk, Document, Metadata
from knowledge.sentences import StoredSentenceVectors

metadata = sa.MetaData()

documents_table = sa.Table(
    "kb_documents",
    metadata,
    sa.Column("id", sa.String(2048), primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("origin", sa.Text, nullable=False, index=True),
    sa.Column("url", sa.Text, nullable=True),
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("chunk_count", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

chunks_table = sa.Table(
    "kb_chunks",
    metadata,
    sa.Column("id", sa.String(2100), primary_key=True),
    sa.Column(
        "document_id",
        sa.String(2048),
        sa.ForeignKey("kb_documents.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("section", sa.Text, nullable=False),
)

# No foreign key to kb_chunks: rows are deleted with their chunk in the same transaction, and a vector
# saved while its chunk is being deleted elsewhere leaves a harmless orphan instead of failing an answer.
sentence_vectors_table = sa.Table(
    "kb_sentence_vectors",
    metadata,
    sa.Column("chunk_id", sa.String(2100), primary_key=True),
    sa.Column("content_key", sa.String(64), nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("dimension", sa.Integer, nullable=False),
    sa.Column("vectors", sa.LargeBinary, nullable=False),  # float16, little-endian, row-major
)

_VECTOR_DTYPE = np.dtype("<f2")

revision_table = sa.Table(
    "kb_revision",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("revision", sa.Integer, nullable=False),
)


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    """What the catalogue knows of an ingested document."""

    id: str
    title: str
    source: str
    origin: str
    url: str | None
    metadata: Metadata
    content_hash: str
    chunk_count: int
    created_at: dt.datetime
    updated_at: dt.datetime


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _info(row: sa.Row[tuple[object, ...]]) -> DocumentInfo:
    meta = row.metadata if isinstance(row.metadata, dict) else json.loads(str(row.metadata))
    return DocumentInfo(
        id=row.id,
        title=row.title,
        source=row.source,
        origin=row.origin,
        url=row.url,
        metadata=meta,
        content_hash=row.content_hash,
        chunk_count=row.chunk_count,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class Catalog:
    """Reads and writes the knowledge tables through one SQLAlchemy engine."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def hashes(self, ids: Iterable[str] | None = None) -> dict[str, str]:
        """Content hash by document id (of the given ids, or of all documents)."""
        query = sa.select(documents_table.c.id, documents_table.c.content_hash)
        result: dict[str, str] = {}
        with self.engine.connect() as conn:
            if ids is None:
                return {row.id: row.content_hash for row in conn.execute(query)}
            wanted = list(ids)
            for start in range(0, len(wanted), 500):
                part = wanted[start : start + 500]
                rows = conn.execute(query.where(documents_table.c.id.in_(part)))
                result.update({row.id: row.content_hash for row in rows})
        return result

    def save(
        self,
        items: Sequence[tuple[Document, Sequence[Chunk]]],
        origin: str,
        sentence_vectors: Mapping[str, StoredSentenceVectors] | None = None,
    ) -> None:
        """Insert or replace documents with their chunks (and their sentence vectors by chunk id), in one transaction.

        The sentence vectors of the documents' old chunks are deleted with them.
        """
        if not items:
            return
        now = _now()
        ids = [doc.id for doc, _ in items]
        with self.engine.begin() as conn:
            created = {
                row.id: row.created_at
                for row in conn.execute(
                    sa.select(documents_table.c.id, documents_table.c.created_at).where(documents_table.c.id.in_(ids))
                )
            }
            self._delete_chunks(conn, ids)
            conn.execute(sa.delete(documents_table).where(documents_table.c.id.in_(ids)))
            conn.execute(
                sa.insert(documents_table),
                [
                    {
                        "id": doc.id,
                        "title": doc.title,
                        "source": doc.source,
                        "origin": origin,
                        "url": doc.url,
                        "metadata": dict(doc.metadata),
                        "content_hash": doc.content_hash(),
                        "chunk_count": len(chunks),
                        "created_at": created.get(doc.id, now),
                        "updated_at": now,
                    }
                    for doc, chunks in items
                ],
            )
            rows = [
                {"id": c.id, "document_id": c.document_id, "position": c.index, "text": c.text, "section": c.section}
                for _, chunks in items
                for c in chunks
            ]
            if rows:
                conn.execute(sa.insert(chunks_table), rows)
            saved = {c.id for _, chunks in items for c in chunks}
            vector_rows = [_vector_row(cid, v) for cid, v in (sentence_vectors or {}).items() if cid in saved]
            if vector_rows:
                self._write_vectors(conn, vector_rows)
            self._bump(conn)

    def delete(self, ids: Sequence[str]) -> int:
        """Delete documents and their chunks; returns how many documents were deleted."""
        if not ids:
            return 0
        with self.engine.begin() as conn:
            self._delete_chunks(conn, list(ids))
            deleted = conn.execute(sa.delete(documents_table).where(documents_table.c.id.in_(list(ids)))).rowcount
            if deleted:
                self._bump(conn)
        return int(deleted or 0)

    def documents(self, *, origin: str | None = None, limit: int | None = None, offset: int = 0) -> list[DocumentInfo]:
        """Documents ordered by id, optionally those ingested from one origin only."""
        query = sa.select(documents_table).order_by(documents_table.c.id).offset(offset)
        if origin is not None:
            query = query.where(documents_table.c.origin == origin)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [_info(row) for row in conn.execute(query)]

    def document(self, document_id: str) -> DocumentInfo | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(documents_table).where(documents_table.c.id == document_id)).first()
        return _info(row) if row is not None else None

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(documents_table)).scalar_one())

    def chunks(self, document_id: str | None = None) -> list[Chunk]:
        """Every chunk (or one document's), with its document's title, URL and metadata."""
        d, c = documents_table, chunks_table
        query = (
            sa.select(c.c.id, c.c.document_id, c.c.position, c.c.text, c.c.section, d.c.title, d.c.url, d.c.metadata)
            .join(d, d.c.id == c.c.document_id)
            .order_by(c.c.document_id, c.c.position)
        )
        if document_id is not None:
            query = query.where(c.c.document_id == document_id)
        with self.engine.connect() as conn:
            return [
                Chunk(
                    id=row.id,
                    document_id=row.document_id,
                    index=row.position,
                    text=row.text,
                    title=row.title,
                    section=row.section,
                    url=row.url,
                    metadata=row.metadata if isinstance(row.metadata, dict) else json.loads(str(row.metadata)),
                )
                for row in conn.execute(query)
            ]

    def sentence_vectors(self, chunk_ids: Sequence[str]) -> dict[str, StoredSentenceVectors]:
        """The stored sentence vectors of those of the chunks that have any, by chunk id."""
        t = sentence_vectors_table
        out: dict[str, StoredSentenceVectors] = {}
        wanted = list(dict.fromkeys(chunk_ids))
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), 500):
                rows = conn.execute(sa.select(t).where(t.c.chunk_id.in_(wanted[start : start + 500])))
                for row in rows:
                    matrix = np.frombuffer(row.vectors, dtype=_VECTOR_DTYPE).reshape(row.rows, row.dimension)
                    out[row.chunk_id] = StoredSentenceVectors(row.content_key, matrix.astype(np.float32))
        return out

    def save_sentence_vectors(self, items: Sequence[tuple[Chunk, StoredSentenceVectors]]) -> int:
        """Store (or replace) the sentence vectors of chunks the catalogue still holds with the same text.

        Vectors of a chunk that was deleted or changed meanwhile are not stored. Returns how many were.
        """
        if not items:
            return 0
        c = chunks_table
        by_id = {chunk.id: (chunk, vectors) for chunk, vectors in items}
        with self.engine.begin() as conn:
            current = {
                row.id: row.text for row in conn.execute(sa.select(c.c.id, c.c.text).where(c.c.id.in_(list(by_id))))
            }
            rows = [
                _vector_row(cid, vectors) for cid, (chunk, vectors) in by_id.items() if current.get(cid) == chunk.text
            ]
            if rows:
                self._write_vectors(conn, rows)
        return len(rows)

    @staticmethod
    def _write_vectors(conn: sa.Connection, rows: list[dict[str, object]]) -> None:
        """Insert or replace sentence-vector rows (an upsert, so concurrent writers of one chunk do not clash)."""
        t = sentence_vectors_table
        dialect = conn.dialect.name
        if dialect in ("sqlite", "postgresql"):
            insert = sqlite.insert(t) if dialect == "sqlite" else postgresql.insert(t)
            columns = ("content_key", "rows", "dimension", "vectors")
            upsert = insert.on_conflict_do_update(
                index_elements=[t.c.chunk_id], set_={name: insert.excluded[name] for name in columns}
            )
            conn.execute(upsert, rows)
            return
        conn.execute(sa.delete(t).where(t.c.chunk_id.in_([row["chunk_id"] for row in rows])))
        conn.execute(sa.insert(t), rows)

    @staticmethod
    def _delete_chunks(conn: sa.Connection, document_ids: Sequence[str]) -> None:
        """Delete the chunks of documents and their sentence vectors."""
        c = chunks_table
        of_documents = sa.select(c.c.id).where(c.c.document_id.in_(list(document_ids)))
        conn.execute(sa.delete(sentence_vectors_table).where(sentence_vectors_table.c.chunk_id.in_(of_documents)))
        conn.execute(sa.delete(c).where(c.c.document_id.in_(list(document_ids))))

    def revision(self) -> int:
        """A number that grows with every change of the catalogue (for other workers to notice)."""
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(revision_table.c.revision).where(revision_table.c.id == 1)).scalar()
        return int(value or 0)

    @staticmethod
    def _bump(conn: sa.Connection) -> None:
        updated = conn.execute(
            sa.update(revision_table).where(revision_table.c.id == 1).values(revision=revision_table.c.revision + 1)
        ).rowcount
        if not updated:
            conn.execute(sa.insert(revision_table).values(id=1, revision=1))


def _vector_row(chunk_id: str, stored: StoredSentenceVectors) -> dict[str, object]:
    matrix = np.ascontiguousarray(stored.vectors, dtype=_VECTOR_DTYPE)
    if matrix.ndim != 2:
        msg = f"sentence vectors of chunk {chunk_id!r} must be a matrix, got an array of shape {matrix.shape}"
        raise ValueError(msg)
    return {
        "chunk_id": chunk_id,
        "content_key": stored.key,
        "rows": int(matrix.shape[0]),
        "dimension": int(matrix.shape[1]),
        "vectors": matrix.tobytes(),
    }
