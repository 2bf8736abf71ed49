"""Ranking metrics at the document level: recall@k, MRR@10 and binary nDCG@10."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence

from knowledge.documents import Passage

METRIC_NAMES: tuple[str, ...] = ("recall_at_1", "recall_at_5", "recall_at_10", "mrr_at_10", "ndcg_at_10")


def document_ranking(passages: Iterable[Passage]) -> list[str]:
    """The document ids of ranked passages, each kept once at its best (first) place."""
    seen: dict[str, None] = {}
    for passage in passages:
        seen.setdefault(passage.chunk.document_id, None)
    return list(seen)


def recall_at(ranking: Sequence[str], relevant: Collection[str], k: int) -> float:
    """The fraction of the relevant ids found among the first `k` of the ranking."""
    if not relevant:
        msg = "recall needs at least one relevant id"
        raise ValueError(msg)
    return len(set(ranking[:k]) & set(relevant)) / len(set(relevant))


def reciprocal_rank(ranking: Sequence[str], relevant: Collection[str], k: int = 10) -> float:
    """1 / the rank of the first relevant id within the first `k`, else 0."""
    for rank, doc_id in enumerate(ranking[:k], start=1):
        if doc_id in relevant:
            return 1.0 / rank
    return 0.0


def ndcg_at(ranking: Sequence[str], relevant: Collection[str], k: int = 10) -> float:
    """Normalised discounted cumulative gain of the first `k`, with gain 1 for each relevant id."""
    wanted = set(relevant)
    if not wanted:
        msg = "nDCG needs at least one relevant id"
        raise ValueError(msg)
    dcg = sum(1.0 / math.log2(rank + 1) for rank, doc_id in enumerate(ranking[:k], start=1) if doc_id in wanted)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(wanted), k) + 1))
    return dcg / ideal


def ranking_metrics(ranking: Sequence[str], relevant: Collection[str]) -> dict[str, float]:
    """All of `METRIC_NAMES` for one ranked list of document ids."""
    return {
        "recall_at_1": recall_at(ranking, relevant, 1),
        "recall_at_5": recall_at(ranking, relevant, 5),
        "recall_at_10": recall_at(ranking, relevant, 10),
        "mrr_at_10": reciprocal_rank(ranking, relevant, 10),
        "ndcg_at_10": ndcg_at(ranking, relevant, 10),
    }


def mean_metrics(per_question: Sequence[dict[str, float]], digits: int = 4) -> dict[str, float]:
    """The mean of each metric over questions, rounded."""
    if not per_question:
        return dict.fromkeys(METRIC_NAMES, 0.0)
    return {name: round(sum(m[name] for m in per_question) / len(per_question), digits) for name in METRIC_NAMES}
