"""Plain data travelling through the knowledge base: documents, chunks, passages, citations."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

MetadataValue = str | int | float | bool
Metadata = Mapping[str, MetadataValue]


@dataclass(frozen=True, slots=True)
class Block:
    """A paragraph-sized piece of a document with the headings it sits under."""

    text: str
    headings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Document:
    """A source document, already parsed into structural blocks."""

    id: str
    title: str
    blocks: tuple[Block, ...]
    source: str
    url: str | None = None
    metadata: Metadata = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n\n".join(block.text for block in self.blocks)

    def content_hash(self) -> str:
        """A hash of everything that ends up in the index; equal hashes need no re-embedding."""
        payload = json.dumps(
            {
                "title": self.title,
                "url": self.url,
                "metadata": dict(sorted(self.metadata.items())),
                "blocks": [[list(b.headings), b.text] for b in self.blocks],
            },
            ensure_ascii=False,
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Chunk:
    """A retrievable unit of a document: a few paragraphs of one section."""

    id: str
    document_id: str
    index: int
    text: str
    title: str
    section: str = ""
    url: str | None = None
    metadata: Metadata = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Citation:
    """Where a passage comes from, enough to show a link to the customer."""

    document_id: str
    chunk_id: str
    title: str
    url: str | None = None
    section: str = ""


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrieved chunk with its citation and a score in [0, 1] usable as confidence."""

    chunk: Chunk
    score: float
    citation: Citation

    @property
    def text(self) -> str:
        return self.chunk.text


@dataclass(frozen=True, slots=True)
class Turn:
    """One earlier turn of the conversation, given to retrieval as context."""

    role: Literal["customer", "agent"]
    text: str


def citation_for(chunk: Chunk) -> Citation:
    """The citation of a chunk."""
    return Citation(
        document_id=chunk.document_id,
        chunk_id=chunk.id,
        title=chunk.title,
        url=chunk.url,
        section=chunk.section,
    )
