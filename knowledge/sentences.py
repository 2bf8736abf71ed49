"""The sentences of a chunk and their vectors, computed once per chunk content and reused by every answer.

A chunk is cut into segments: sentences, list steps (with their sub-items) and tables, in order. An
answer writer scores each segment against the question; with the segments' vectors at hand that is
one dot product per segment instead of running the encoder at question time. `SentenceVectors`
computes them at ingest (the knowledge base stores them in the catalogue beside the chunk), keeps
recently used ones in a bounded in-memory cache, and encodes, in one batch, only the chunks that have
none yet (a knowledge base ingested before sentence vectors existed, or chunks that live outside the
catalogue). Vectors are keyed by the chunk's text, the model and the segmentation version, so a
changed document, another model or a new segmentation never reuses stale vectors.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import numpy as np

from knowledge.documents import Chunk
from knowledge.embeddings import Embedder, Matrix

# Bump when `segments` cuts text differently: stored vectors of the old segmentation are then recomputed.
SEGMENTATION_VERSION = 1

# tried only from the first blank of a run (the lookbehind): a long run of blanks is not rescanned, time is linear
CITATION_MARKER = re.compile(r"(?<!\s)\s*\[(\d{1,2}(?:\s*,\s*\d{1,2})*)\]")
_SENTENCE = re.compile(r"(?<=[.!?\u27e7])[\"')\]]*\s+(?=[\"'(\[]?[A-ZÄÖÜÀ-Ý0-9])")
_RESTORE = re.compile(r"\u27e6([\d, ]+)\u27e7")
_LIST_PREFIX = re.compile(r"^(?:[-*•]|\d{1,2}[.)])\s+")
_LIST_ITEM = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+")
_SUB_ITEM = re.compile(r"^\s{2,}(?:[-*•]|\d{1,2}[.)])\s+")
_MAX_TABLE_ROWS = 12
_MAX_LIST_ITEMS = 8


def split_sentences(text: str) -> list[str]:
    """Sentences and list lines of a text; a [n] marker stays with the sentence it follows."""
    protected = CITATION_MARKER.sub(lambda m: f"\u27e6{m.group(1)}\u27e7", text)
    out: list[str] = []
    for raw_line in protected.splitlines():
        line = raw_line.strip()
        if not line:
            continue
        prefix = _LIST_PREFIX.match(line)
        head, rest = (line[: prefix.end()], line[prefix.end() :]) if prefix else ("", line)
        parts = [part.strip() for part in _SENTENCE.split(rest) if part.strip()]
        if parts:
            parts[0] = head + parts[0]
        out.extend(_RESTORE.sub(r" [\1]", part) for part in parts)
    return out


class SegmentKind(StrEnum):
    SENTENCE = "sentence"
    STEP = "step"
    TABLE = "table"


@dataclass(frozen=True, slots=True)
class Segment:
    """One answerable piece of a chunk: a sentence, a list step (with its sub-items) or a table.

    A sentence ending in ":" that introduces a list carries the list's items.
    """

    order: int
    text: str
    kind: SegmentKind
    list_items: tuple[str, ...] = ()

    @property
    def is_step(self) -> bool:
        return self.kind is SegmentKind.STEP

    @property
    def introduces_list(self) -> bool:
        return bool(self.list_items)


def segments(text: str) -> tuple[Segment, ...]:
    """The segments of a chunk's text, in reading order (`order` counts from 0)."""
    out: list[Segment] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        i += 1
        if not line.strip():
            continue
        if "|" in line and i < len(lines) and "|" in lines[i]:
            rows = [line.strip()]
            while i < len(lines) and "|" in lines[i]:
                rows.append(lines[i].strip())
                i += 1
            out.append(Segment(len(out), "\n".join(rows[:_MAX_TABLE_ROWS]), SegmentKind.TABLE))
            continue
        if _LIST_ITEM.match(line) and not _SUB_ITEM.match(line):
            subs = []
            while i < len(lines) and _SUB_ITEM.match(lines[i]):
                subs.append(lines[i].strip())
                i += 1
            body = line.strip() + ("\n" + "\n".join(subs) if subs else "")
            out.append(Segment(len(out), body, SegmentKind.STEP))
            continue
        for sentence in split_sentences(line):
            items: tuple[str, ...] = ()
            if sentence.endswith(":"):
                j, found = i, []
                while j < len(lines) and (not lines[j].strip() or _LIST_ITEM.match(lines[j])):
                    if lines[j].strip():
                        found.append(lines[j].rstrip())
                    j += 1
                items = tuple(found[:_MAX_LIST_ITEMS])
            out.append(Segment(len(out), sentence, SegmentKind.SENTENCE, items))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class StoredSentenceVectors:
    """The vectors of a chunk's segments (one unit row per segment, in order) and the key they were made for."""

    key: str
    vectors: Matrix


class SentenceVectorStore(Protocol):
    """Where sentence vectors outlive the process (the catalogue)."""

    def sentence_vectors(self, chunk_ids: Sequence[str]) -> dict[str, StoredSentenceVectors]:
        """The stored vectors of those chunks that have any."""
        ...

    def save_sentence_vectors(self, items: Sequence[tuple[Chunk, StoredSentenceVectors]]) -> int:
        """Store vectors of chunks that are still in the catalogue with the same text; returns how many."""
        ...


class SentenceVectors:
    """Vectors of chunks' segments: from a bounded in-memory cache, else the store, else the encoder.

    Rows are unit vectors in the order of `segments(chunk.text)`, rounded through float16 (the
    stored precision; cosines move by less than 1e-3) so that vectors read back from the store
    equal the ones just computed. Safe to share between threads.
    """

    def __init__(
        self,
        embedder: Embedder,
        *,
        store: SentenceVectorStore | None = None,
        cache_bytes: int = 32 * 2**20,
    ) -> None:
        if cache_bytes < 0:
            msg = f"cache_bytes must be >= 0, got {cache_bytes}"
            raise ValueError(msg)
        self.embedder = embedder
        self.store = store
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[str, Matrix] = OrderedDict()
        self._cached_bytes = 0
        self._lock = threading.Lock()

    def key(self, chunk: Chunk) -> str:
        """What the vectors of this chunk depend on: its text, the model and the segmentation."""
        payload = f"{self.embedder.name}\0{self.embedder.dimension}\0{SEGMENTATION_VERSION}\0{chunk.text}"
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    @property
    def cached_bytes(self) -> int:
        """Memory held by the in-memory cache."""
        return self._cached_bytes

    def encode(self, chunks: Sequence[Chunk]) -> list[StoredSentenceVectors]:
        """Encode the segments of chunks in one batch (each distinct segment text once), bypassing the caches."""
        per_chunk = [[s.text for s in segments(c.text)] for c in chunks]
        distinct = list(dict.fromkeys(text for texts in per_chunk for text in texts))
        dimension = self.embedder.dimension
        encoded = np.asarray(self.embedder.embed_documents(distinct), dtype=np.float32) if distinct else None
        row = {text: i for i, text in enumerate(distinct)}
        out: list[StoredSentenceVectors] = []
        for chunk, texts in zip(chunks, per_chunk, strict=True):
            if encoded is None or not texts:
                matrix = np.zeros((0, dimension), dtype=np.float32)
            else:
                matrix = encoded[[row[t] for t in texts]].astype(np.float16).astype(np.float32)
            out.append(StoredSentenceVectors(self.key(chunk), matrix))
        return out

    def vectors(self, chunks: Sequence[Chunk]) -> list[Matrix]:
        """One matrix per chunk, a row per segment; chunks with no vectors anywhere are encoded together."""
        keys = [self.key(c) for c in chunks]
        found: dict[str, Matrix] = {}
        with self._lock:
            for key in keys:
                cached = self._cache.get(key)
                if cached is not None:
                    self._cache.move_to_end(key)
                    found[key] = cached
        missing = {key: chunk for key, chunk in zip(keys, chunks, strict=True) if key not in found}
        if missing and self.store is not None:
            stored = self.store.sentence_vectors(list({c.id for c in missing.values()}))
            for key, chunk in list(missing.items()):
                hit = stored.get(chunk.id)
                if hit is not None and hit.key == key and hit.vectors.shape[0] == len(segments(chunk.text)):
                    found[key] = hit.vectors
                    self._remember(key, hit.vectors)
                    del missing[key]
        if missing:
            fresh = self.encode(list(missing.values()))
            if self.store is not None:
                self.store.save_sentence_vectors(list(zip(missing.values(), fresh, strict=True)))
            for item in fresh:
                found[item.key] = item.vectors
                self._remember(item.key, item.vectors)
        return [found[key] for key in keys]

    def _remember(self, key: str, vectors: Matrix) -> None:
        size = int(vectors.nbytes)
        if size > self.cache_bytes:
            return
        with self._lock:
            old = self._cache.pop(key, None)
            if old is not None:
                self._cached_bytes -= int(old.nbytes)
            self._cache[key] = vectors
            self._cached_bytes += size
            while self._cached_bytes > self.cache_bytes:
                _, evicted = self._cache.popitem(last=False)
                self._cached_bytes -= int(evicted.nbytes)
