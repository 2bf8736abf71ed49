"""Concurrent queries share encoder batches: each caller gets its own vectors, each distinct text is encoded once."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np
import pytest

from knowledge.embeddings import Matrix, SentenceTransformerEmbedder, SharedBatches


class SlowEncoder:
    """Encodes a text as [len(text), first character code], taking a while per call, and counts calls."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.fail_on = fail_on

    def __call__(self, texts: Sequence[str]) -> Matrix:
        self.calls.append(list(texts))
        time.sleep(0.05)
        if self.fail_on in texts:
            msg = f"cannot encode {self.fail_on!r}"
            raise RuntimeError(msg)
        return np.array([[len(t), ord(t[0])] for t in texts], dtype=np.float32)


def _run_concurrently(shared: SharedBatches, inputs: list[list[str]]) -> list[Matrix | BaseException]:
    results: list[Matrix | BaseException] = [np.zeros(0)] * len(inputs)
    start = threading.Barrier(len(inputs))

    def call(i: int) -> None:
        start.wait()
        try:
            results[i] = shared.encode(inputs[i])
        except BaseException as exc:  # collected for the assertions
            results[i] = exc

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(inputs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_concurrent_callers_share_batches_and_get_their_own_vectors() -> None:
    encoder = SlowEncoder()
    shared = SharedBatches(encoder, max_batch=64)
    inputs = [[f"question {i % 10}", "x" * (i + 1)] for i in range(32)]
    results = _run_concurrently(shared, inputs)
    for texts, result in zip(inputs, results, strict=True):
        assert isinstance(result, np.ndarray)
        assert result.tolist() == [[len(t), ord(t[0])] for t in texts]
    assert len(encoder.calls) < 8, f"32 callers took {len(encoder.calls)} encoder calls"
    assert all(len(call) == len(set(call)) for call in encoder.calls), "a batch encodes each distinct text once"
    assert {text for call in encoder.calls for text in call} == {t for texts in inputs for t in texts}
    assert sum(len(call) for call in encoder.calls) < sum(len(texts) for texts in inputs)


def test_batches_respect_their_size_and_everyone_is_served() -> None:
    encoder = SlowEncoder()
    shared = SharedBatches(encoder, max_batch=5)
    inputs = [[f"q{i}-{j}" for j in range(3)] for i in range(12)]
    results = _run_concurrently(shared, inputs)
    assert all(isinstance(r, np.ndarray) and r.shape == (3, 2) for r in results)
    assert max(len(call) for call in encoder.calls) <= 5, "a batch holds at most max_batch texts"


def test_an_encoder_error_reaches_the_callers_of_that_batch_only() -> None:
    encoder = SlowEncoder(fail_on="bad")
    shared = SharedBatches(encoder, max_batch=64)
    assert shared.encode(["fine"]).shape == (1, 2)
    with pytest.raises(RuntimeError, match="cannot encode 'bad'"):
        shared.encode(["bad"])
    assert shared.encode(["fine again"]).shape == (1, 2), "the encoder is free again after a failure"


def test_the_embedder_shares_batches_between_threads(embedder: SentenceTransformerEmbedder) -> None:
    texts = [f"How do I return item number {i}?" for i in range(16)]
    alone = embedder._encode(texts)
    before = embedder._shared.batches
    results = _run_concurrently(embedder._shared, [[t] for t in texts])
    assert embedder._shared.batches - before < len(texts)
    for i, result in enumerate(results):
        assert isinstance(result, np.ndarray)
        assert np.allclose(result[0], alone[i], atol=1e-4)
