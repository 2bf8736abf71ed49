"""Structure-aware chunking: paragraphs grouped within their section, split at sentence ends when long."""

from __future__ import annotations

import re
from dataclasses import dataclass

from knowledge.documents import Block, Chunk, Document

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")


@dataclass(frozen=True, slots=True)
class ChunkingConfig:
    """Sizes in characters: a chunk aims for `target` and never exceeds `maximum` unless one sentence does."""

    target: int = 700
    maximum: int = 1200
    minimum: int = 120

    def __post_init__(self) -> None:
        if not 0 < self.minimum <= self.target <= self.maximum:
            msg = (
                "chunk sizes must satisfy 0 < minimum <= target <= maximum, "
                f"got minimum={self.minimum}, target={self.target}, maximum={self.maximum}"
            )
            raise ValueError(msg)


def _split_long(text: str, maximum: int) -> list[str]:
    if len(text) <= maximum:
        return [text]
    pieces: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(text):
        if current and len(current) + 1 + len(sentence) > maximum:
            pieces.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}" if current else sentence
    if current:
        pieces.append(current)
    return pieces


def chunk_document(document: Document, config: ChunkingConfig | None = None) -> list[Chunk]:
    """Cut a document into chunks that never cross a section boundary."""
    config = config or ChunkingConfig()
    groups: list[tuple[tuple[str, ...], list[str]]] = []
    for block in document.blocks:
        text = block.text.strip()
        if not text:
            continue
        for piece in _split_long(text, config.maximum):
            if groups and groups[-1][0] == block.headings:
                size = sum(len(p) + 2 for p in groups[-1][1])
                fits = size + len(piece) <= config.maximum
                if fits and (size < config.minimum or size + len(piece) <= config.target):
                    groups[-1][1].append(piece)
                    continue
            groups.append((block.headings, [piece]))
    chunks: list[Chunk] = []
    for index, (headings, pieces) in enumerate(groups):
        if headings and headings[0].strip().casefold() == document.title.strip().casefold():
            headings = headings[1:]
        chunks.append(
            Chunk(
                id=f"{document.id}#{index}",
                document_id=document.id,
                index=index,
                text="\n\n".join(pieces),
                title=document.title,
                section=" > ".join(headings),
                url=document.url,
                metadata=document.metadata,
            )
        )
    return chunks


def blocks_from_paragraphs(text: str, headings: tuple[str, ...] = ()) -> tuple[Block, ...]:
    """Blocks from plain text, one per paragraph (blank-line separated)."""
    paragraphs = (re.sub(r"[ \t]+", " ", p).strip() for p in re.split(r"\n\s*\n", text))
    return tuple(Block(text=p, headings=headings) for p in paragraphs if p)
