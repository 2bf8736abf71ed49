"""The document catalogue, on SQLite and on PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

from knowledge.catalog import Catalog
from knowledge.chunking import chunk_document
from knowledge.documents import Block, Document


def _doc(doc_id: str, text: str, **meta: str) -> Document:
    return Document(
        id=doc_id,
        title=f"Title of {doc_id}",
        blocks=(Block(text, ("Section",)),),
        source=f"/kb/{doc_id}.md",
        url=f"https://help.example/{doc_id}",
        metadata=meta,
    )


def test_save_read_replace_delete(engine: sa.Engine) -> None:
    catalog = Catalog(engine)
    assert catalog.revision() == 0
    a, b = _doc("a", "Refunds take five days.", language="en"), _doc("b", "Parking is free.")
    catalog.save([(a, chunk_document(a)), (b, chunk_document(b))], origin="/kb")
    assert catalog.count() == 2
    assert catalog.hashes() == {"a": a.content_hash(), "b": b.content_hash()}
    first_revision = catalog.revision()
    assert first_revision > 0

    info = catalog.document("a")
    assert info is not None
    assert (info.title, info.url, dict(info.metadata), info.origin) == (
        "Title of a",
        "https://help.example/a",
        {"language": "en"},
        "/kb",
    )
    [chunk] = catalog.chunks("a")
    assert (chunk.text, chunk.section, chunk.title, dict(chunk.metadata)) == (
        "Refunds take five days.",
        "Section",
        "Title of a",
        {"language": "en"},
    )

    changed = _doc("a", "Refunds take ten days.", language="en")
    catalog.save([(changed, chunk_document(changed))], origin="/kb")
    again = catalog.document("a")
    assert again is not None and again.created_at == info.created_at and again.updated_at >= info.updated_at
    assert catalog.chunks("a")[0].text == "Refunds take ten days."
    assert catalog.revision() > first_revision

    assert catalog.delete(["a", "missing"]) == 1
    assert [d.id for d in catalog.documents()] == ["b"]
    assert catalog.chunks("a") == []
    assert [d.id for d in catalog.documents(origin="/elsewhere")] == []


def test_hashes_of_many_ids(engine: sa.Engine) -> None:
    catalog = Catalog(engine)
    docs = [_doc(f"d{i:04d}", f"text {i}") for i in range(1200)]
    catalog.save([(d, chunk_document(d)) for d in docs], origin="bulk")
    wanted = [d.id for d in docs[::3]] + ["unknown"]
    assert catalog.hashes(wanted) == {d.id: d.content_hash() for d in docs[::3]}
    assert len(catalog.chunks()) == 1200
    assert [d.id for d in catalog.documents(limit=2, offset=1)] == ["d0001", "d0002"]
