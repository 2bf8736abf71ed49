"""The composition root: builds the expensive things once (engine, embedder, vector store, knowledge base)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from frontdesk import db
from frontdesk.settings import Settings
from knowledge.base import IngestReport, KnowledgeBase
from knowledge.catalog import Catalog
from knowledge.embeddings import Embedder, SentenceTransformerEmbedder
from knowledge.store import ChromaVectorStore, VectorStore

logger = logging.getLogger(__name__)

DEMO_KB = Path(__file__).with_name("demo_kb")


@dataclass(slots=True)
class Runtime:
    """Everything a request or a command needs, built once per process."""

    settings: Settings
    engine: sa.Engine
    store: VectorStore
    embedder: Embedder
    knowledge: KnowledgeBase

    def close(self) -> None:
        self.engine.dispose()


def build_store(settings: Settings) -> ChromaVectorStore:
    if settings.chroma_host:
        return ChromaVectorStore(
            host=settings.chroma_host,
            port=settings.chroma_port,
            ssl=settings.chroma_ssl,
            collection=settings.chroma_collection,
        )
    return ChromaVectorStore(path=settings.resolved_chroma_path, collection=settings.chroma_collection)


def build_runtime(settings: Settings, *, embedder: Embedder | None = None, migrate: bool = True) -> Runtime:
    """Open the database (migrating it), the vector store and the embedding model."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = db.create_engine(settings.resolved_database_url)
    if migrate:
        db.upgrade(engine)
    store = build_store(settings)
    if embedder is None:
        embedder = SentenceTransformerEmbedder(settings.embedding_model, batch_size=settings.embedding_batch_size)
    knowledge = KnowledgeBase(catalog=Catalog(engine), store=store, embedder=embedder)
    return Runtime(settings=settings, engine=engine, store=store, embedder=embedder, knowledge=knowledge)


def ingest_demo_if_empty(runtime: Runtime) -> IngestReport | None:
    """Ingest the bundled demo help centre into an empty knowledge base."""
    if not runtime.settings.demo_kb or runtime.knowledge.catalog.count() > 0:
        return None
    report = runtime.knowledge.ingest([str(DEMO_KB)])
    logger.info("ingested the demo knowledge base: %d documents", len(report.added))
    return report
