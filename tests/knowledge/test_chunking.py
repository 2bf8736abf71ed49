"""Chunking: chunks stay inside one section, aim for the target size and split long text at sentence ends."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.chunking import ChunkingConfig, blocks_from_paragraphs, chunk_document
from knowledge.documents import Block, Document
from knowledge.loaders import load_markdown


def make_document(*blocks: Block, metadata: dict[str, str] | None = None) -> Document:
    return Document(
        id="kb/billing",
        title="Billing",
        blocks=blocks,
        source="billing.md",
        url="https://help.acme.test/billing",
        metadata=metadata or {},
    )


def sentence(n: int, words: int = 12) -> str:
    return f"Sentence {n} " + " ".join(["about refunds"] * (words // 2)) + "."


def paragraph(n: int, sentences: int = 3) -> str:
    return " ".join(sentence(n * 100 + i) for i in range(sentences))


def test_chunks_never_cross_a_section_boundary() -> None:
    refunds, invoices = ("Billing", "Refunds"), ("Billing", "Invoices")
    doc = make_document(
        Block("Refunds take five days.", refunds),
        Block("Invoices arrive monthly.", invoices),
        Block("Refunds go back to the card.", refunds),
    )
    chunks = chunk_document(doc)
    # the document's own title heading is not repeated in the section path
    assert [(c.section, c.text) for c in chunks] == [
        ("Refunds", "Refunds take five days."),
        ("Invoices", "Invoices arrive monthly."),
        ("Refunds", "Refunds go back to the card."),
    ]


def test_small_paragraphs_of_one_section_are_grouped_up_to_the_target() -> None:
    config = ChunkingConfig(target=400, maximum=800, minimum=50)
    paragraphs = [paragraph(n, sentences=2) for n in range(12)]
    doc = make_document(*(Block(p, ("FAQ",)) for p in paragraphs))
    chunks = chunk_document(doc, config)
    assert 1 < len(chunks) < len(paragraphs)
    assert all(len(c.text) <= config.target for c in chunks)
    assert all(c.section == "FAQ" for c in chunks)
    # nothing lost, nothing reordered, paragraphs kept whole
    assert [p for c in chunks for p in c.text.split("\n\n")] == paragraphs


def test_long_paragraph_is_split_at_sentence_ends_within_maximum() -> None:
    config = ChunkingConfig(target=300, maximum=500, minimum=50)
    long_text = " ".join(sentence(i) for i in range(40))
    chunks = chunk_document(make_document(Block(long_text, ("Refunds",))), config)
    assert len(chunks) >= len(long_text) // config.maximum
    assert all(len(c.text) <= config.maximum for c in chunks)
    assert all(c.text.startswith("Sentence ") and c.text.endswith(".") for c in chunks)
    assert " ".join(c.text.replace("\n\n", " ") for c in chunks) == long_text


def test_one_sentence_longer_than_maximum_stays_whole() -> None:
    config = ChunkingConfig(target=100, maximum=200, minimum=20)
    giant = "This sentence never ends " + "and goes on " * 40 + "until here."
    [chunk] = chunk_document(make_document(Block(giant, ("Terms",))), config)
    assert chunk.text == giant and len(chunk.text) > config.maximum


def test_a_fragment_below_minimum_is_merged_with_the_next_paragraph() -> None:
    config = ChunkingConfig(target=200, maximum=600, minimum=60)
    heading_like = "Note:"
    body = paragraph(1, sentences=3)
    assert len(body) > config.target
    [chunk] = chunk_document(make_document(Block(heading_like, ("A",)), Block(body, ("A",))), config)
    assert chunk.text == f"{heading_like}\n\n{body}"


def test_chunk_ids_order_and_document_fields() -> None:
    doc = make_document(
        Block("First section text.", ("One",)),
        Block("   ", ("One",)),
        Block("Second section text.", ("Two",)),
        Block("No heading text.", ()),
        metadata={"product": "billing"},
    )
    chunks = chunk_document(doc)
    assert [c.id for c in chunks] == ["kb/billing#0", "kb/billing#1", "kb/billing#2"]
    assert [c.index for c in chunks] == [0, 1, 2]
    assert [c.section for c in chunks] == ["One", "Two", ""]
    for chunk in chunks:
        assert (chunk.document_id, chunk.title, chunk.url) == (
            "kb/billing",
            "Billing",
            "https://help.acme.test/billing",
        )
        assert dict(chunk.metadata) == {"product": "billing"}


def test_default_sizes_on_a_long_document() -> None:
    config = ChunkingConfig()
    text = "\n\n".join(paragraph(n, sentences=n % 9 + 1) for n in range(60))
    doc = make_document(*blocks_from_paragraphs(text, ("Guide", "Setup")))
    chunks = chunk_document(doc, config)
    sizes = [len(c.text) for c in chunks]
    assert max(sizes) <= config.maximum
    assert sum(size >= config.minimum for size in sizes) == len(sizes)
    assert "\n\n".join(c.text for c in chunks) == text


@pytest.mark.parametrize(("minimum", "target", "maximum"), [(0, 10, 20), (30, 20, 40), (10, 50, 40)])
def test_config_rejects_inconsistent_sizes(minimum: int, target: int, maximum: int) -> None:
    with pytest.raises(ValueError, match=f"got minimum={minimum}, target={target}, maximum={maximum}"):
        ChunkingConfig(target=target, maximum=maximum, minimum=minimum)


def test_markdown_sections_become_chunk_sections(tmp_path: Path) -> None:
    path = tmp_path / "billing.md"
    path.write_text(
        "# Billing\n\nWe take cards.\n\n## Refunds\n\nRefunds take five days.\n\n- Ask support\n- Wait\n\n"
        "## Invoices\n\nInvoices arrive monthly.\n",
        encoding="utf-8",
    )
    [doc] = load_markdown(path)
    chunks = chunk_document(doc)
    assert [(c.section, c.text) for c in chunks] == [
        ("", "We take cards."),
        ("Refunds", "Refunds take five days.\n\n- Ask support\n- Wait"),
        ("Invoices", "Invoices arrive monthly."),
    ]


def test_merging_a_small_fragment_never_exceeds_maximum() -> None:
    config = ChunkingConfig(target=300, maximum=400, minimum=100)
    words = "refund " * 54
    piece = f"Almost the maximum {words}".strip() + "."
    assert config.maximum - 10 < len(piece) <= config.maximum
    chunks = chunk_document(make_document(Block("Short intro.", ("A",)), Block(piece, ("A",))), config)
    assert all(len(c.text) <= config.maximum for c in chunks)
