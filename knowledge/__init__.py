"""The knowledge base: ingestion, chunking, embeddings, the vector store and hybrid retrieval."""

from knowledge.documents import Block, Chunk, Citation, Document, Passage, Turn
from knowledge.errors import DocumentLoadError, KnowledgeError, UnsupportedSourceError

__all__ = [
    "Block",
    "Chunk",
    "Citation",
    "Document",
    "DocumentLoadError",
    "KnowledgeError",
    "Passage",
    "Turn",
    "UnsupportedSourceError",
]
