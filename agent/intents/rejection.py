"""Out-of-scope scores: how close a message lies to its nearest in-scope training messages."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from agent.intents.encoder import Matrix

BLOCK = 2048


def knn_scores(queries: Matrix, bank: Matrix, neighbours: int) -> Matrix:
    """The mean cosine similarity of each (unit-length) query to its `neighbours` nearest bank vectors."""
    k = max(1, min(neighbours, bank.shape[0]))
    out = np.zeros(queries.shape[0], dtype=np.float32)
    for start in range(0, queries.shape[0], BLOCK):
        similarity = queries[start : start + BLOCK] @ bank.T
        top = np.partition(similarity, similarity.shape[1] - k, axis=1)[:, -k:]
        out[start : start + BLOCK] = top.mean(axis=1)
    return out


def leave_one_out_knn_scores(bank: Matrix, texts: Sequence[str], neighbours: int) -> Matrix:
    """`knn_scores` of each bank vector against the others, leaving out every copy of the same text.

    These are the scores unseen in-scope messages would get, so their quantiles calibrate a threshold.
    """
    groups: dict[str, int] = {}
    group = np.array([groups.setdefault(" ".join(text.casefold().split()), len(groups)) for text in texts])
    k = max(1, min(neighbours, bank.shape[0] - 1))
    out = np.zeros(bank.shape[0], dtype=np.float32)
    for start in range(0, bank.shape[0], BLOCK):
        similarity = bank[start : start + BLOCK] @ bank.T
        similarity[group[start : start + BLOCK, None] == group[None, :]] = -1.0
        top = np.partition(similarity, similarity.shape[1] - k, axis=1)[:, -k:]
        out[start : start + BLOCK] = top.mean(axis=1)
    return out
