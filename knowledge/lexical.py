"""BM25 over chunks (bm25s with English stemming), with metadata filters applied as a mask."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from knowledge.documents import Chunk, MetadataValue
from knowledge.store import chunk_metadata

Filters = Mapping[str, MetadataValue]
Scores = npt.NDArray[np.float32]

_TOKEN = re.compile(r"\w+", re.UNICODE)
_STOPWORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there these "
    "they this to was will with".split()
)


@lru_cache(maxsize=1)
def _stemmer() -> object:
    import Stemmer

    return Stemmer.Stemmer("english")


def tokenize(text: str) -> list[str]:
    """Lower-cased, stop-word-free, Snowball-stemmed word tokens of a text."""
    words = [w for w in _TOKEN.findall(text.lower()) if w not in _STOPWORDS and (len(w) > 1 or w.isdigit())]
    if not words:
        return []
    stems: list[str] = _stemmer().stemWords(words)  # type: ignore[attr-defined]
    return stems


def lexical_text(chunk: Chunk) -> str:
    """The text of a chunk that BM25 indexes: its title, section and body."""
    return "\n".join(part for part in (chunk.title, chunk.section, chunk.text) if part)


class BM25Index:
    """An immutable BM25 index over a set of chunks; rebuild it when the chunk set changes.

    `search` returns `(chunk_id, score)` pairs, best first, with raw BM25 scores (unbounded, 0 = no
    query term matched); `scores` gives the score of every chunk, aligned with `chunk_ids`.
    """

    def __init__(
        self,
        chunks: Sequence[Chunk],
        *,
        k1: float = 1.2,
        b: float = 0.75,
        text_of: Callable[[Chunk], str] | None = None,
    ) -> None:
        if k1 <= 0 or not 0 <= b <= 1:
            msg = f"BM25 needs k1 > 0 and 0 <= b <= 1, got k1={k1}, b={b}"
            raise ValueError(msg)
        import bm25s

        self.chunk_ids: tuple[str, ...] = tuple(c.id for c in chunks)
        self._position = {chunk_id: i for i, chunk_id in enumerate(self.chunk_ids)}
        if len(self._position) != len(self.chunk_ids):
            msg = "chunk ids must be unique to be indexed"
            raise ValueError(msg)
        self._metadata = [chunk_metadata(c) for c in chunks]
        self._mask_cache: dict[tuple[tuple[str, MetadataValue], ...], npt.NDArray[np.bool_]] = {}
        self._lock = threading.Lock()
        text_of = text_of or lexical_text
        corpus = [tokenize(text_of(c)) or [""] for c in chunks]
        self._model = bm25s.BM25(k1=k1, b=b, method="lucene")
        if corpus:
            self._model.index(corpus, show_progress=False)

    def __len__(self) -> int:
        return len(self.chunk_ids)

    def position(self, chunk_id: str) -> int | None:
        """The row of a chunk in `scores`, or None if it is not indexed."""
        return self._position.get(chunk_id)

    def mask(self, filters: Filters | None) -> npt.NDArray[np.bool_] | None:
        """Which chunks match every `key == value` filter (None when there are no filters)."""
        if not filters:
            return None
        key = tuple(sorted(filters.items(), key=lambda kv: kv[0]))
        with self._lock:
            cached = self._mask_cache.get(key)
        if cached is None:
            cached = np.fromiter(
                (all(meta.get(k) == v for k, v in key) for meta in self._metadata), dtype=bool, count=len(self)
            )
            with self._lock:
                if len(self._mask_cache) > 256:
                    self._mask_cache.clear()
                self._mask_cache[key] = cached
        return cached

    def scores(self, query: str | Iterable[str], filters: Filters | None = None) -> Scores:
        """The BM25 score of every chunk for the query (text or tokens); filtered-out chunks score 0."""
        tokens = tokenize(query) if isinstance(query, str) else list(query)
        if not len(self) or not tokens:
            return np.zeros(len(self), dtype=np.float32)
        ids = self._model.get_tokens_ids(tokens)
        if not ids:
            return np.zeros(len(self), dtype=np.float32)
        scores = np.asarray(self._model.get_scores_from_ids(ids), dtype=np.float32)
        mask = self.mask(filters)
        if mask is not None:
            scores = np.where(mask, scores, np.float32(0.0))
        return scores

    def search(self, query: str, k: int = 10, filters: Filters | None = None) -> list[tuple[str, float]]:
        """The `k` best-scoring chunks that match at least one query term, best first."""
        if k < 1:
            msg = f"k must be at least 1, got {k}"
            raise ValueError(msg)
        return top_k(self.scores(query, filters), self.chunk_ids, k)


def top_k(scores: Scores, ids: Sequence[str], k: int) -> list[tuple[str, float]]:
    """The `k` ids with the highest positive score, best first."""
    if scores.size == 0:
        return []
    k = min(k, scores.size)
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.argsort(-scores[top], kind="stable")]
    return [(ids[i], float(scores[i])) for i in top if scores[i] > 0]
