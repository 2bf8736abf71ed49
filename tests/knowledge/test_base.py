"""Incremental ingestion and search through the knowledge-base service."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from knowledge.base import IngestProgress, KnowledgeBase
from knowledge.catalog import Catalog
from knowledge.embeddings import SentenceTransformerEmbedder
from knowledge.store import ChromaVectorStore


class CountingEmbedder:
    """The real model, counting how many texts it was asked to embed."""

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimension = inner.dimension
        self.embedded = 0

    def embed_documents(self, texts: list[str]):  # type: ignore[no-untyped-def]
        self.embedded += len(texts)
        return self.inner.embed_documents(texts)

    def embed_queries(self, texts: list[str]):  # type: ignore[no-untyped-def]
        return self.inner.embed_queries(texts)


@pytest.fixture
def kb(engine: sa.Engine, tmp_path: Path, embedder: SentenceTransformerEmbedder) -> KnowledgeBase:
    return KnowledgeBase(
        catalog=Catalog(engine), store=ChromaVectorStore(path=tmp_path / "chroma"), embedder=CountingEmbedder(embedder)
    )


def _write(folder: Path) -> None:
    folder.mkdir(exist_ok=True)
    (folder / "returns.txt").write_text(
        "Returns\n\nYou can return a bike within 30 days of delivery for a full refund.\n\n"
        "Refunds reach your card in 5 to 10 business days.",
        encoding="utf-8",
    )
    (folder / "parking.txt").write_text(
        "Store parking\n\nOur Harbour Street store has free customer parking behind the building.", encoding="utf-8"
    )
    (folder / "faq.jsonl").write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {"id": "faq-1", "title": "Battery charging", "text": "A full charge of the battery takes 4 hours."},
                {"id": "faq-2", "title": "Opening hours", "text": "Stores open 9:00 to 18:00, Monday to Saturday."},
            ]
        ),
        encoding="utf-8",
    )


def test_incremental_ingest_adds_skips_replaces_and_prunes(kb: KnowledgeBase, tmp_path: Path) -> None:
    folder = tmp_path / "kb"
    _write(folder)
    seen: list[IngestProgress] = []
    first = kb.ingest([str(folder)], progress=seen.append)
    assert sorted(first.added) == sorted(
        [str((folder / "returns.txt").resolve()), str((folder / "parking.txt").resolve()), "faq-1", "faq-2"]
    )
    assert first.failed == [] and first.chunks_embedded >= 4
    assert seen[-1].done == seen[-1].total == first.chunks_embedded
    embedded = kb.embedder.embedded  # type: ignore[attr-defined]

    second = kb.ingest([str(folder)])
    assert second.added == [] and second.updated == [] and len(second.unchanged) == 4
    assert kb.embedder.embedded == embedded  # type: ignore[attr-defined]

    (folder / "parking.txt").write_text("Store parking\n\nParking costs 2 euros an hour now.", encoding="utf-8")
    (folder / "faq.jsonl").write_text(
        json.dumps({"id": "faq-1", "title": "Battery charging", "text": "A full charge of the battery takes 4 hours."}),
        encoding="utf-8",
    )
    (folder / "returns.txt").unlink()
    third = kb.ingest([str(folder)])
    assert third.updated == [str((folder / "parking.txt").resolve())]
    assert sorted(third.deleted) == sorted(["faq-2", str((folder / "returns.txt").resolve())])
    assert third.unchanged == ["faq-1"]
    assert kb.store.count() == len(kb.catalog.chunks())

    top = kb.search("how much is parking?", k=1)[0]
    assert "2 euros" in top.text
    assert top.citation.title == "Store parking"
    assert 0.0 <= top.score <= 1.0


def test_a_broken_file_is_reported_and_keeps_what_was_ingested(kb: KnowledgeBase, tmp_path: Path) -> None:
    folder = tmp_path / "kb"
    _write(folder)
    kb.ingest([str(folder)])
    (folder / "faq.jsonl").write_text("{not json", encoding="utf-8")
    (folder / "empty.txt").write_text("   \n", encoding="utf-8")
    report = kb.ingest([str(folder)])
    reasons = {Path(f.source).name: f.reason for f in report.failed}
    assert set(reasons) >= {"faq.jsonl", "empty.txt"}, report.failed
    assert "JSON" in reasons["faq.jsonl"]
    assert report.deleted == []
    assert {"faq-1", "faq-2"} <= {d.id for d in kb.documents()}


def test_missing_source_is_a_failure_not_a_crash(kb: KnowledgeBase, tmp_path: Path) -> None:
    report = kb.ingest([str(tmp_path / "nope")])
    assert len(report.failed) == 1 and "nope" in report.failed[0].source
    assert kb.documents() == []


def test_delete_and_filters(kb: KnowledgeBase, tmp_path: Path) -> None:
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "multi.jsonl").write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {"id": "en", "title": "Refunds", "text": "Refunds take 5 days.", "metadata": {"language": "en"}},
                {
                    "id": "de",
                    "title": "Erstattung",
                    "text": "Erstattungen dauern 5 Tage.",
                    "metadata": {"language": "de"},
                },
            ]
        ),
        encoding="utf-8",
    )
    kb.ingest([str(folder)])
    assert {p.citation.document_id for p in kb.search("refund", k=5, filters={"language": "de"})} == {"de"}
    assert kb.delete(["en"]) == 1
    assert {p.citation.document_id for p in kb.search("refund", k=5)} == {"de"}
    with pytest.raises(ValueError, match="empty"):
        kb.search("   ")
