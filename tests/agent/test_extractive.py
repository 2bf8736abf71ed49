"""The offline writer scores sentences with vectors computed at ingest: a turn encodes only the question."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from agent.extractive import ExtractiveWriter, _units, sentence_pieces
from agent.types import AnswerRequest
from frontdesk import db
from frontdesk.runtime import DEMO_KB
from knowledge.base import KnowledgeBase
from knowledge.catalog import Catalog
from knowledge.embeddings import Matrix, SentenceTransformerEmbedder
from knowledge.sentences import SentenceVectors, segments
from knowledge.store import InMemoryVectorStore

QUESTIONS = (
    "How many days do I have to return something?",
    "How do I pause my subscription?",
    "Is there parking at the Lakeview store?",
    "How long does a refund take?",
    "What does the battery warranty cover?",
)


class RecordingEmbedder:
    """The real model, recording what it is asked to encode."""

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimension = inner.dimension
        self.documents: list[list[str]] = []
        self.queries: list[list[str]] = []

    def embed_documents(self, texts: Sequence[str]) -> Matrix:
        self.documents.append(list(texts))
        return self.inner.embed_documents(texts)

    def embed_queries(self, texts: Sequence[str]) -> Matrix:
        self.queries.append(list(texts))
        return self.inner.embed_queries(texts)


@pytest.fixture(scope="module")
def demo_kb(tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbedder) -> Iterator[KnowledgeBase]:
    folder: Path = tmp_path_factory.mktemp("extractive-kb")
    engine = db.create_engine(f"sqlite:///{folder / 'kb.db'}")
    db.upgrade(engine)
    kb = KnowledgeBase(catalog=Catalog(engine), store=InMemoryVectorStore(), embedder=embedder)
    kb.ingest([str(DEMO_KB)])
    yield kb
    engine.dispose()


def _request(kb: KnowledgeBase, question: str) -> AnswerRequest:
    return AnswerRequest(question=question, message=question, history=(), passages=kb.search(question, k=5))


def test_a_turn_encodes_the_question_and_no_sentence(
    demo_kb: KnowledgeBase, embedder: SentenceTransformerEmbedder
) -> None:
    recording = RecordingEmbedder(embedder)
    sentences = SentenceVectors(recording, store=demo_kb.catalog)  # as after a restart: nothing in memory
    writer = ExtractiveWriter(embedder=recording, sentences=sentences)
    for question in QUESTIONS:
        draft = writer.compose(_request(demo_kb, question))
        assert draft.text and draft.cited
    assert recording.documents == []  # every sentence vector came from the catalogue
    assert recording.queries == [[q] for q in QUESTIONS]


def test_stored_vectors_give_the_answers_of_vectors_computed_on_the_fly(
    demo_kb: KnowledgeBase, embedder: SentenceTransformerEmbedder
) -> None:
    stored = ExtractiveWriter(embedder=embedder, sentences=demo_kb.sentences)
    on_the_fly = ExtractiveWriter(embedder=embedder)  # no knowledge base: encoded on first use, kept in memory
    for question in QUESTIONS:
        request = _request(demo_kb, question)
        assert stored.compose(request) == on_the_fly.compose(request)
    assert "30 days" in stored.compose(_request(demo_kb, QUESTIONS[0])).text


def test_sentence_scores_are_the_cosines_to_the_question(
    demo_kb: KnowledgeBase, embedder: SentenceTransformerEmbedder
) -> None:
    writer = ExtractiveWriter(embedder=embedder, sentences=demo_kb.sentences)
    request = _request(demo_kb, "Can I get my money back?")
    passages = request.passages[: writer.semantic_passages]
    texts = [s.text for p in passages for s in segments(p.text)]
    expected = embedder.embed_documents(texts) @ embedder.embed_queries([request.message])[0]
    candidates = [(n, p, _units(n, p.text)) for n, p in enumerate(request.passages, 1)]
    similarities = writer._similarities(request, candidates)
    assert len(similarities) == len(texts)
    got = [similarities[(u.passage, u.order)] for n, _, units in candidates[: len(passages)] for u in units]
    np.testing.assert_allclose(got, expected, atol=2e-3)


def test_sentence_vectors_must_come_from_the_question_encoder(embedder: SentenceTransformerEmbedder) -> None:
    with pytest.raises(ValueError, match="pass embedder"):
        ExtractiveWriter(sentences=SentenceVectors(embedder))

    class Renamed(RecordingEmbedder):
        def __init__(self, inner: SentenceTransformerEmbedder) -> None:
            super().__init__(inner)
            self.name = "another-model"

    with pytest.raises(ValueError, match="another-model"):
        ExtractiveWriter(embedder=embedder, sentences=SentenceVectors(Renamed(embedder)))


def test_an_answer_written_at_once_streams_a_sentence_a_piece() -> None:
    text = "Refunds take 5 days. Really?! Yes.\nThen: 3.5 more... and done"
    pieces = sentence_pieces(text)
    assert pieces == ["Refunds take 5 days. ", "Really?! ", "Yes.\n", "Then: 3.5 more... ", "and done"]
    assert "".join(pieces) == text
    assert sentence_pieces("") == []
    marks = "!" * 100_000 + " x"  # one attempt per run of marks: linear
    assert "".join(sentence_pieces(marks)) == marks
