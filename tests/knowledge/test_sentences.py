"""Segments of a chunk and their vectors: encoded once per content, bounded in memory, kept in the catalogue."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pytest
import sqlalchemy as sa

from knowledge.base import KnowledgeBase
from knowledge.catalog import Catalog
from knowledge.documents import Block, Chunk, Document
from knowledge.embeddings import Matrix
from knowledge.sentences import SegmentKind, SentenceVectors, StoredSentenceVectors, segments, split_sentences
from knowledge.store import InMemoryVectorStore


class HashingEmbedder:
    """Fixed pseudo-random unit vectors per text, recording every text it was asked to encode."""

    def __init__(self, name: str = "hashing", dimension: int = 16) -> None:
        self.name = name
        self.dimension = dimension
        self.calls: list[list[str]] = []

    def _vector(self, text: str) -> Matrix:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
        vector = np.random.default_rng(seed).normal(size=self.dimension).astype(np.float32)
        return vector / np.linalg.norm(vector)

    def embed_documents(self, texts: Sequence[str]) -> Matrix:
        self.calls.append(list(texts))
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dimension), np.float32)

    def embed_queries(self, texts: Sequence[str]) -> Matrix:
        return self.embed_documents(texts)

    @property
    def encoded(self) -> list[str]:
        return [text for call in self.calls for text in call]


def _chunk(chunk_id: str, text: str) -> Chunk:
    return Chunk(id=chunk_id, document_id=chunk_id.split("#")[0], index=0, text=text, title="T")


def test_segments_cut_sentences_steps_and_tables() -> None:
    text = (
        "Returns are free. You have 30 days [2].\n"
        "To return a bike:\n"
        "1. Print the label.\n"
        "   - Use A4 paper.\n"
        "2. Book a pickup.\n"
        "\n"
        "| size | price |\n"
        "| S | 10 |\n"
        "Questions? Call us."
    )
    parts = segments(text)
    assert [s.order for s in parts] == list(range(len(parts)))
    assert [(s.kind, s.text) for s in parts] == [
        (SegmentKind.SENTENCE, "Returns are free."),
        (SegmentKind.SENTENCE, "You have 30 days [2]."),
        (SegmentKind.SENTENCE, "To return a bike:"),
        (SegmentKind.STEP, "1. Print the label.\n- Use A4 paper."),
        (SegmentKind.STEP, "2. Book a pickup."),
        (SegmentKind.TABLE, "| size | price |\n| S | 10 |"),
        (SegmentKind.SENTENCE, "Questions?"),
        (SegmentKind.SENTENCE, "Call us."),
    ]
    intro = parts[2]
    assert intro.introduces_list
    assert intro.list_items == ("1. Print the label.", "   - Use A4 paper.", "2. Book a pickup.")
    assert not parts[0].introduces_list and parts[3].is_step and not parts[0].is_step
    assert split_sentences("Done [1]. Next one.") == ["Done [1].", "Next one."]


def test_vectors_are_encoded_once_per_content_in_one_batch() -> None:
    embedder = HashingEmbedder()
    index = SentenceVectors(embedder)
    a = _chunk("a#0", "Refunds take five days. Shipping is free.")
    b = _chunk("b#0", "Shipping is free. Stores open at nine.")
    first = index.vectors([a, b, a])
    assert len(embedder.calls) == 1  # one encoder call for everything missing
    assert sorted(embedder.encoded) == sorted(["Refunds take five days.", "Shipping is free.", "Stores open at nine."])
    assert [m.shape for m in first] == [(2, 16), (2, 16), (2, 16)]
    np.testing.assert_allclose(np.linalg.norm(first[0], axis=1), 1.0, atol=1e-3)
    np.testing.assert_array_equal(first[0][1], first[1][0])  # the same sentence, the same vector
    expected = embedder._vector("Stores open at nine.")
    assert float(first[1][1] @ expected) == pytest.approx(1.0, abs=1e-3)

    again = index.vectors([b, a])
    assert len(embedder.calls) == 1
    np.testing.assert_array_equal(again[0], first[1])

    changed = _chunk("b#0", "Shipping is free. Stores open at ten.")
    index.vectors([changed])
    assert embedder.calls[-1] == ["Shipping is free.", "Stores open at ten."]


def test_memory_cache_is_bounded_and_forgets_the_least_recently_used() -> None:
    embedder = HashingEmbedder(dimension=16)
    one_chunk = 2 * 16 * 4  # two sentences of float32
    index = SentenceVectors(embedder, cache_bytes=2 * one_chunk)
    chunks = [_chunk(f"d{i}#0", f"Sentence {i} one. Sentence {i} two.") for i in range(3)]
    index.vectors([chunks[0]])
    index.vectors([chunks[1]])
    index.vectors([chunks[0]])  # chunk 0 is now the most recently used
    index.vectors([chunks[2]])  # evicts chunk 1
    assert index.cached_bytes == 2 * one_chunk
    calls = len(embedder.calls)
    index.vectors([chunks[0], chunks[2]])
    assert len(embedder.calls) == calls
    index.vectors([chunks[1]])
    assert len(embedder.calls) == calls + 1
    assert index.cached_bytes <= 2 * one_chunk

    tiny = SentenceVectors(embedder, cache_bytes=one_chunk - 1)  # nothing fits: always encoded, never held
    tiny.vectors([chunks[0]])
    tiny.vectors([chunks[0]])
    assert tiny.cached_bytes == 0 and len(embedder.calls) == calls + 3
    with pytest.raises(ValueError, match="cache_bytes"):
        SentenceVectors(embedder, cache_bytes=-1)


def _doc(doc_id: str, *paragraphs: str) -> Document:
    return Document(
        id=doc_id, title=f"Title {doc_id}", blocks=tuple(Block(p, ("Section",)) for p in paragraphs), source="test"
    )


@pytest.fixture
def kb(engine: sa.Engine) -> KnowledgeBase:
    return KnowledgeBase(catalog=Catalog(engine), store=InMemoryVectorStore(), embedder=HashingEmbedder())


def _stored(kb: KnowledgeBase) -> dict[str, StoredSentenceVectors]:
    return kb.catalog.sentence_vectors([c.id for c in kb.catalog.chunks()])


def test_ingest_stores_sentence_vectors_that_survive_a_restart(kb: KnowledgeBase) -> None:
    kb.ingest_documents(
        [_doc("refunds", "Refunds take five days. Cards take longer."), _doc("hours", "Open 9-5.")], origin="t"
    )
    chunks = kb.catalog.chunks()
    stored = _stored(kb)
    assert set(stored) == {c.id for c in chunks}
    for chunk in chunks:
        assert stored[chunk.id].key == kb.sentences.key(chunk)
        assert stored[chunk.id].vectors.shape == (len(segments(chunk.text)), 16)

    restarted_embedder = HashingEmbedder()
    restarted = SentenceVectors(restarted_embedder, store=kb.catalog)
    vectors = restarted.vectors(chunks)
    assert restarted_embedder.calls == []  # read from the catalogue, nothing encoded
    for chunk, matrix in zip(chunks, vectors, strict=True):
        np.testing.assert_array_equal(matrix, stored[chunk.id].vectors)
        np.testing.assert_array_equal(matrix, kb.sentences.encode([chunk])[0].vectors)


def test_changed_and_deleted_documents_take_their_vectors_with_them(kb: KnowledgeBase) -> None:
    long_parking, long_bikes = "Parking is free for customers. " * 22, "Our bikes come in red and blue. " * 22
    kb.ingest_documents([_doc("a", long_parking, long_bikes), _doc("b", "Tea is hot.")], origin="t")
    old = _stored(kb)
    assert sorted(old) == ["a#0", "a#1", "b#0"]
    kb.ingest_documents([_doc("a", "Parking costs two euros.")], origin="t")
    new = _stored(kb)
    [chunk_a] = kb.catalog.chunks("a")
    assert sorted(new) == ["a#0", "b#0"]  # the vectors of the vanished chunk a#1 went with it
    assert new[chunk_a.id].key == kb.sentences.key(chunk_a) != old[chunk_a.id].key
    assert new["b#0"].key == old["b#0"].key
    kb.delete(["a"])
    assert set(_stored(kb)) == {c.id for c in kb.catalog.chunks("b")}
    with kb.catalog.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM kb_sentence_vectors")).scalar_one() == 1


def test_chunks_without_vectors_are_encoded_on_first_use_and_written_back(kb: KnowledgeBase) -> None:
    kb.ingest_documents([_doc("a", "Parking is free. Bikes are red.")], origin="t")
    [chunk] = kb.catalog.chunks()
    with kb.catalog.engine.begin() as conn:  # as if ingested before sentence vectors existed
        conn.execute(sa.text("DELETE FROM kb_sentence_vectors"))
    embedder = HashingEmbedder()
    first = SentenceVectors(embedder, store=kb.catalog)
    first.vectors([chunk])
    assert embedder.calls == [["Parking is free.", "Bikes are red."]]
    assert set(_stored(kb)) == {chunk.id}

    later = HashingEmbedder()
    SentenceVectors(later, store=kb.catalog).vectors([chunk])
    assert later.calls == []

    other_model = HashingEmbedder(name="another-model")  # stored vectors of another model are not reused
    SentenceVectors(other_model, store=kb.catalog).vectors([chunk])
    assert other_model.calls == [["Parking is free.", "Bikes are red."]]


def test_write_back_skips_chunks_the_catalogue_no_longer_holds(kb: KnowledgeBase) -> None:
    kb.ingest_documents([_doc("a", "Parking is free.")], origin="t")
    [chunk] = kb.catalog.chunks()
    index = SentenceVectors(HashingEmbedder(), store=kb.catalog)
    outdated = Chunk(id=chunk.id, document_id="a", index=0, text="Parking was free.", title="Title a")
    elsewhere = _chunk("nowhere#0", "Not in the catalogue.")
    [v_outdated, v_elsewhere, v_chunk] = index.encode([outdated, elsewhere, chunk])
    saved = kb.catalog.save_sentence_vectors([(outdated, v_outdated), (elsewhere, v_elsewhere), (chunk, v_chunk)])
    assert saved == 1
    assert set(_stored(kb)) == {chunk.id}
    assert _stored(kb)[chunk.id].key == index.key(chunk)
    assert kb.catalog.save_sentence_vectors([]) == 0


def test_encode_handles_empty_chunks() -> None:
    embedder = HashingEmbedder()
    [empty] = SentenceVectors(embedder).encode([_chunk("e#0", "   \n")])
    assert empty.vectors.shape == (0, 16) and embedder.calls == []
