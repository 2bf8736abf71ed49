"""Retrieval: BM25, dense, the hybrid retriever, and the conversation's subject."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from knowledge.conversation import SubjectTracker, collect_subjects
from knowledge.documents import Chunk, Turn
from knowledge.embeddings import SentenceTransformerEmbedder
from knowledge.lexical import BM25Index, tokenize
from knowledge.retrieval import (
    DenseRetriever,
    HybridConfig,
    HybridRetriever,
    LexicalRetriever,
    Retriever,
    embedding_text,
)
from knowledge.store import InMemoryVectorStore

FAQ = [
    ("reset", "How do I reset my password?", "Open Settings, choose Security and click Reset password.", "en"),
    ("refund", "Can I get a refund for my order?", "Refunds are issued within 14 days of delivery.", "en"),
    ("ship", "How long does shipping take?", "Standard shipping takes three to five working days.", "en"),
    (
        "error",
        "The app shows error E-4711 on start",
        "Error E-4711 means the licence file is corrupt; reinstall.",
        "en",
    ),
    ("delete", "How do I delete my account?", "Go to Profile, then Delete account, and confirm by email.", "en"),
    ("reset-fr", "Comment réinitialiser mon mot de passe ?", "Ouvrez Paramètres, Sécurité, puis Réinitialiser.", "fr"),
]

HOTELS = {
    "HOBSONS HOUSE": [
        ("parking", "Is there parking at Hobsons House?", "Free parking is available on site at Hobsons House."),
        ("wifi", "Does Hobsons House have wifi?", "Wifi is free in all rooms."),
        ("pets", "Can I bring my dog?", "Pets are not allowed at Hobsons House."),
    ],
    "GONVILLE HOTEL": [
        ("parking", "Is there parking at the Gonville Hotel?", "Parking costs 15 pounds a night at the Gonville."),
        ("wifi", "Does the Gonville Hotel have wifi?", "Wifi is free in the lobby only."),
        ("pets", "Are pets allowed?", "Small dogs are welcome at the Gonville Hotel."),
    ],
    "PIZZA EXPRESS FEN DITTON": [
        ("parking", "Is there parking?", "There is no parking at Pizza Express Fen Ditton."),
    ],
    "PIZZA EXPRESS": [
        ("parking", "Is there parking?", "Pizza Express in the centre has a car park behind it."),
    ],
}


def _faq_chunks() -> list[Chunk]:
    return [
        Chunk(id=f"{doc}#0", document_id=doc, index=0, text=text, title=title, metadata={"language": lang})
        for doc, title, text, lang in FAQ
    ]


def _hotel_chunks() -> list[Chunk]:
    chunks = []
    for number, (entity, faqs) in enumerate(HOTELS.items()):
        for doc, question, answer in faqs:
            doc_id = f"h{number}/{doc}"
            chunks.append(
                Chunk(
                    id=f"{doc_id}#0",
                    document_id=doc_id,
                    index=0,
                    text=answer,
                    title=f"{entity} — {question}",
                    metadata={"entity": entity},
                )
            )
    return chunks


def _store(chunks: Sequence[Chunk], embedder: SentenceTransformerEmbedder) -> InMemoryVectorStore:
    store = InMemoryVectorStore()
    store.upsert(chunks, embedder.embed_documents([embedding_text(c) for c in chunks]))
    return store


def _retrievers(chunks: Sequence[Chunk], embedder: SentenceTransformerEmbedder) -> dict[str, Retriever]:
    store = _store(chunks, embedder)
    return {
        "lexical": LexicalRetriever(chunks, store, embedder),
        "dense": DenseRetriever(chunks, store, embedder),
        "hybrid": HybridRetriever(chunks, store, embedder),
    }


def _docs(passages: Sequence[object]) -> list[str]:
    return [p.chunk.document_id for p in passages]  # type: ignore[attr-defined]


# --- BM25 ---------------------------------------------------------------------------------------


def test_tokenize_stems_and_drops_stop_words() -> None:
    assert tokenize("The Deleting of accounts") == ["delet", "account"]


def test_bm25_finds_a_rare_exact_term_and_respects_filters() -> None:
    index = BM25Index(_faq_chunks())
    assert index.search("what is E-4711?", k=3)[0][0] == "error#0"
    assert index.search("reset password", k=5, filters={"language": "fr"}) == []
    assert [cid for cid, _ in index.search("réinitialiser", k=5, filters={"language": "fr"})] == ["reset-fr#0"]
    assert index.search("zzzz qqqq", k=3) == []


def test_bm25_rejects_a_bad_k() -> None:
    with pytest.raises(ValueError, match="k must be at least 1"):
        BM25Index(_faq_chunks()).search("refund", k=0)


# --- the three retrievers -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["lexical", "dense", "hybrid"])
def test_every_retriever_answers_a_plain_question(name: str, embedder: SentenceTransformerEmbedder) -> None:
    retriever = _retrievers(_faq_chunks(), embedder)[name]
    passages = retriever.search("I forgot my password, how can I reset it?", k=3)
    assert passages[0].chunk.document_id == "reset"
    assert all(0.0 <= p.score <= 1.0 for p in passages)
    assert passages[0].citation.chunk_id == "reset#0"


@pytest.mark.parametrize("name", ["lexical", "dense", "hybrid"])
def test_a_filter_excludes_another_language(name: str, embedder: SentenceTransformerEmbedder) -> None:
    retriever = _retrievers(_faq_chunks(), embedder)[name]
    english = retriever.search("réinitialiser mot de passe password", k=6, filters={"language": "en"})
    assert english
    assert "reset-fr" not in _docs(english)
    french = retriever.search("réinitialiser mot de passe password", k=6, filters={"language": "fr"})
    assert _docs(french) == ["reset-fr"]


def test_hybrid_finds_a_rare_exact_term(embedder: SentenceTransformerEmbedder) -> None:
    retriever = _retrievers(_faq_chunks(), embedder)["hybrid"]
    assert _docs(retriever.search("E-4711", k=3))[0] == "error"


def test_hybrid_score_is_a_confidence_comparable_across_queries(embedder: SentenceTransformerEmbedder) -> None:
    retriever = _retrievers(_faq_chunks(), embedder)["hybrid"]
    on_topic = retriever.search("how do I get my money back for an order", k=1)[0]
    off_topic = retriever.search("what is the capital of Mongolia", k=1)[0]
    assert on_topic.chunk.document_id == "refund"
    assert on_topic.score > 0.5 > off_topic.score


def test_hybrid_returns_one_passage_per_document_best_first(embedder: SentenceTransformerEmbedder) -> None:
    chunks = [
        Chunk(id=f"guide#{i}", document_id="guide", index=i, text=t, title="Router guide")
        for i, t in enumerate(["Reset the router by holding the button.", "Reset the router from the app."])
    ] + _faq_chunks()
    store = _store(chunks, embedder)
    passages = HybridRetriever(chunks, store, embedder).search("how to reset the router", k=3)
    assert _docs(passages)[0] == "guide"
    assert len(set(_docs(passages))) == len(passages) == 3


def test_hybrid_rebuild_takes_new_chunks(embedder: SentenceTransformerEmbedder) -> None:
    chunks = _faq_chunks()
    store = _store(chunks, embedder)
    retriever = HybridRetriever(chunks, store, embedder)
    assert "gift" not in _docs(retriever.search("can I buy a gift card", k=3))
    new = Chunk(id="gift#0", document_id="gift", index=0, text="Gift cards are sold online.", title="Gift cards")
    store.upsert([new], embedder.embed_documents([embedding_text(new)]))
    retriever.rebuild([*chunks, new])
    assert _docs(retriever.search("can I buy a gift card", k=3))[0] == "gift"


def test_hybrid_with_no_chunks_finds_nothing(embedder: SentenceTransformerEmbedder) -> None:
    assert HybridRetriever([], InMemoryVectorStore(), embedder).search("anything") == []


def test_hybrid_config_refuses_negative_weights() -> None:
    with pytest.raises(ValueError, match="lexical_weight"):
        HybridConfig(lexical_weight=-1.0)


# --- conversation ---------------------------------------------------------------------------------


def test_a_follow_up_is_read_in_the_context_of_the_dialogue(embedder: SentenceTransformerEmbedder) -> None:
    chunks = _hotel_chunks()
    retriever = HybridRetriever(chunks, _store(chunks, embedder), embedder)
    history = [
        Turn("customer", "I need a guesthouse in the west."),
        Turn("agent", "Hobsons House is a lovely 3 star guesthouse there."),
    ]
    assert _docs(retriever.search("and is there parking?", history=history, k=1)) == ["h0/parking"]
    # the most recent subject wins
    later = [*history, Turn("customer", "What about the Gonville?"), Turn("agent", "It is in the centre.")]
    assert _docs(retriever.search("and is there parking?", history=later, k=1)) == ["h1/parking"]
    # without history the question alone cannot say which hotel: no subject, no boost
    assert retriever.subject_of("and is there parking?") is None


def test_without_subjects_history_does_no_harm(embedder: SentenceTransformerEmbedder) -> None:
    chunks = _faq_chunks()
    retriever = HybridRetriever(chunks, _store(chunks, embedder), embedder)
    history = [Turn("customer", "Hello"), Turn("agent", "Hi! How can I help?")]
    assert _docs(retriever.search("how long is delivery?", history=history, k=1)) == ["ship"]


def test_subject_names_match_loosely() -> None:
    tracker = SubjectTracker.from_chunks(_hotel_chunks())
    names = {s.name for s in tracker.subjects}
    assert names == set(HOTELS)

    def found(text: str) -> list[str]:
        return [s.name for s in tracker.find(text)]

    assert found("tell me about hobsons house") == ["HOBSONS HOUSE"]
    assert found("Is Hobson's House nice?") == ["HOBSONS HOUSE"]
    assert found("book the gonville please") == ["GONVILLE HOTEL"]
    assert found("what about the Goonville?") == ["GONVILLE HOTEL"]  # a misspelling no chunk contains
    assert found("pizza express fen ditton") == ["PIZZA EXPRESS FEN DITTON"]
    assert found("pizza express in town") == ["PIZZA EXPRESS"]
    assert found("a cheap hotel with free parking") == []


def test_subjects_fall_back_to_title_prefixes() -> None:
    chunks = [
        Chunk(id=f"{p}{i}#0", document_id=f"{p}{i}", index=0, text="...", title=f"{name}: topic {i}")
        for p, name in (("a", "Router X2"), ("b", "Camera Z9"))
        for i in range(2)
    ]
    assert {s.name for s in collect_subjects(chunks)} == {"Router X2", "Camera Z9"}
    assert collect_subjects(_faq_chunks()) == []


def test_dense_query_vector_is_unit_length(embedder: SentenceTransformerEmbedder) -> None:
    chunks = _faq_chunks()
    retriever = HybridRetriever(chunks, _store(chunks, embedder), embedder)
    vector = retriever._query_vector("refund", "my order was late")
    assert np.isclose(np.linalg.norm(vector), 1.0, atol=1e-5)
