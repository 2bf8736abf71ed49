"""Topics of customer messages: known topics from labelled examples (or any classifier), and online clusters of
the messages no known topic fits.

A topic id is an intent name, or "cluster:<n>" for a cluster of unplaced messages. Vectors come from an
`encode` callable (texts -> unit-length rows); analytics imports no model of its own, the caller passes one in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]
Encode = Callable[[Sequence[str]], Vectors]
CLUSTER_PREFIX = "cluster:"


class TopicAssigner(Protocol):
    """Places messages in known topics: one topic id per text, or None when no known topic fits it."""

    def assign(self, texts: Sequence[str]) -> list[str | None]: ...


class VectorTopicAssigner(Protocol):
    """A `TopicAssigner` that can also place messages already encoded (saves encoding them twice)."""

    def assign(self, texts: Sequence[str]) -> list[str | None]: ...

    def assign_vectors(self, vectors: Vectors) -> list[str | None]: ...


def _unit_rows(vectors: npt.ArrayLike) -> Vectors:
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim != 2:
        msg = f"expected a matrix of vectors (one row per text), got shape {matrix.shape}"
        raise ValueError(msg)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)


class NearestExampleTopics:
    """k nearest labelled examples on sentence embeddings, with a similarity threshold for "unplaced".

    A message takes the label with the largest summed similarity among its `k` nearest examples; it is
    unplaced when the mean similarity of those neighbours is below `threshold`. Without a threshold, one is
    calibrated by leave-one-out on the examples so that a share `acceptance` of them would be placed.
    """

    def __init__(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        *,
        encode: Encode,
        k: int = 5,
        threshold: float | None = None,
        acceptance: float = 0.95,
        batch: int = 2048,
    ) -> None:
        if len(texts) != len(labels):
            msg = f"got {len(texts)} texts but {len(labels)} labels"
            raise ValueError(msg)
        if len(set(labels)) < 1 or not texts:
            msg = "topics need at least one labelled example"
            raise ValueError(msg)
        if k < 1:
            msg = f"k must be at least 1, got {k}"
            raise ValueError(msg)
        if not 0.0 < acceptance <= 1.0:
            msg = f"acceptance must be in (0, 1], got {acceptance}"
            raise ValueError(msg)
        self._encode = encode
        self.k = min(k, len(texts) - 1) if len(texts) > 1 else 1
        self._batch = batch
        self.topics = sorted(set(labels))
        index = {label: i for i, label in enumerate(self.topics)}
        self._label_ids = np.array([index[label] for label in labels], dtype=np.int64)
        self._examples = _unit_rows(encode(list(texts)))
        self.threshold = threshold if threshold is not None else self._calibrate(acceptance)

    def _neighbours(self, vectors: Vectors, *, exclude_self: bool = False) -> tuple[Vectors, npt.NDArray[np.int64]]:
        """Similarities and example indices of each row's k nearest examples (sorted, nearest first)."""
        sims_out = np.zeros((len(vectors), self.k), dtype=np.float32)
        idx_out = np.zeros((len(vectors), self.k), dtype=np.int64)
        for start in range(0, len(vectors), self._batch):
            block = vectors[start : start + self._batch] @ self._examples.T
            if exclude_self:
                rows = np.arange(block.shape[0])
                block[rows, rows + start] = -np.inf
            top = np.argpartition(-block, self.k - 1, axis=1)[:, : self.k]
            top_sims = np.take_along_axis(block, top, axis=1)
            order = np.argsort(-top_sims, axis=1)
            idx_out[start : start + len(block)] = np.take_along_axis(top, order, axis=1)
            sims_out[start : start + len(block)] = np.take_along_axis(top_sims, order, axis=1)
        return sims_out, idx_out

    def _calibrate(self, acceptance: float) -> float:
        if len(self._examples) < 2:
            return -1.0
        sims, _ = self._neighbours(self._examples, exclude_self=True)
        return float(np.quantile(sims.mean(axis=1), 1.0 - acceptance))

    def assign(self, texts: Sequence[str]) -> list[str | None]:
        """The topic of each text, or None when it is too far from every example."""
        if not texts:
            return []
        return self.assign_vectors(_unit_rows(self._encode(list(texts))))

    def assign_vectors(self, vectors: Vectors) -> list[str | None]:
        """The topic of each (unit-length) vector, or None when it is too far from every example."""
        if len(vectors) == 0:
            return []
        sims, idx = self._neighbours(_unit_rows(vectors))
        labels = self._label_ids[idx]
        out: list[str | None] = []
        for row_sims, row_labels in zip(sims, labels, strict=True):
            if float(row_sims.mean()) < self.threshold:
                out.append(None)
                continue
            votes: dict[int, float] = {}
            for sim, label in zip(row_sims, row_labels, strict=True):
                votes[int(label)] = votes.get(int(label), 0.0) + float(sim)
            out.append(self.topics[max(votes, key=lambda label: (votes[label], -label))])
        return out


@dataclass(slots=True)
class _Cluster:
    number: int
    row: int  # its row in the centroid matrix
    total: Vectors  # sum of member vectors; its direction is the centroid
    size: int
    last_seen: dt.datetime | None
    examples: list[tuple[str, Vectors]] = field(default_factory=list)

    def centroid(self) -> Vectors:
        return self.total / max(float(np.linalg.norm(self.total)), 1e-12)


class OnlineClusters:
    """Leader clustering of unplaced messages: a message joins the nearest cluster whose centroid is at least
    `threshold` similar, or starts a new one. Clusters not seen for `expire_after` are forgotten; beyond
    `max_clusters` the least recently seen is dropped; a cluster that drifts within `merge_threshold` of
    another is merged into the older one. A cluster's label is its example message nearest the centroid.
    Memory is bounded by `max_clusters` × (`max_examples` + 1) vectors."""

    def __init__(
        self,
        *,
        threshold: float = 0.6,
        merge_threshold: float = 0.85,
        max_clusters: int = 500,
        max_examples: int = 12,
        expire_after: dt.timedelta | None = dt.timedelta(days=14),
        first_number: int = 1,
    ) -> None:
        if not -1.0 <= threshold <= 1.0 or not -1.0 <= merge_threshold <= 1.0:
            msg = f"similarity thresholds must be in [-1, 1], got {threshold} and {merge_threshold}"
            raise ValueError(msg)
        if max_clusters < 1 or max_examples < 1:
            msg = f"max_clusters and max_examples must be at least 1, got {max_clusters} and {max_examples}"
            raise ValueError(msg)
        self.threshold = threshold
        self.merge_threshold = merge_threshold
        self.max_clusters = max_clusters
        self.max_examples = max_examples
        self.expire_after = expire_after
        self._clusters: dict[int, _Cluster] = {}
        self._matrix: Vectors | None = None  # unit centroids, one row per slot; free rows are zero
        self._owner: list[int] = [0] * max_clusters  # cluster number in each row, 0 when free
        self._next = first_number  # a new run starts past the last run's numbers, so old ids mean nothing new
        self._merged: dict[int, int] = {}  # merged cluster -> the cluster it went into (bounded below)

    def __len__(self) -> int:
        return len(self._clusters)

    def add(self, text: str, vector: npt.ArrayLike, *, at: dt.datetime | None = None) -> str:
        """Put one unplaced message in a cluster and return the cluster's topic id ("cluster:<n>")."""
        unit = _unit_rows(np.asarray(vector, dtype=np.float32).reshape(1, -1))[0]
        if self._matrix is None:
            self._matrix = np.zeros((self.max_clusters, len(unit)), dtype=np.float32)
        if at is not None:
            self._expire(at)
        best: _Cluster | None = None
        if self._clusters:
            sims = self._matrix @ unit
            row = int(np.argmax(sims))
            if self._owner[row] and float(sims[row]) >= self.threshold:
                best = self._clusters[self._owner[row]]
        if best is None:
            if len(self._clusters) >= self.max_clusters:
                self._drop_stalest()
            free = self._owner.index(0)
            best = _Cluster(self._next, free, np.zeros_like(unit), 0, at)
            self._clusters[self._next] = best
            self._owner[free] = self._next
            self._next += 1
        best.total = best.total + unit
        best.size += 1
        best.last_seen = at if at is not None else best.last_seen
        centroid = best.centroid()
        self._matrix[best.row] = centroid
        if len(best.examples) < self.max_examples:
            best.examples.append((text, unit))
        else:  # keep the examples nearest the centroid: replace the farthest if the newcomer is nearer
            near = [float(vec @ centroid) for _, vec in best.examples]
            worst = int(np.argmin(near))
            if float(unit @ centroid) > near[worst]:
                best.examples[worst] = (text, unit)
        return f"{CLUSTER_PREFIX}{self._maybe_merge(best)}"

    def nearest(self, vector: npt.ArrayLike) -> str | None:
        """The cluster a message would join, without adding it; None when it would start a new one."""
        if self._matrix is None or not self._clusters:
            return None
        unit = _unit_rows(np.asarray(vector, dtype=np.float32).reshape(1, -1))[0]
        sims = self._matrix @ unit
        row = int(np.argmax(sims))
        if not self._owner[row] or float(sims[row]) < self.threshold:
            return None
        return f"{CLUSTER_PREFIX}{self._owner[row]}"

    def _resolve(self, number: int) -> int:
        while number in self._merged:
            number = self._merged[number]
        return number

    def _remove(self, cluster: _Cluster) -> None:
        assert self._matrix is not None
        self._matrix[cluster.row] = 0.0
        self._owner[cluster.row] = 0
        del self._clusters[cluster.number]

    def _maybe_merge(self, cluster: _Cluster) -> int:
        """Merge `cluster` with a near one (if any); the number of the cluster that remains."""
        assert self._matrix is not None
        if cluster.size < 2 or len(self._clusters) < 2:
            return cluster.number
        sims = self._matrix @ self._matrix[cluster.row]
        sims[cluster.row] = -np.inf
        row = int(np.argmax(sims))
        if not self._owner[row] or float(sims[row]) < self.merge_threshold:
            return cluster.number
        other = self._clusters[self._owner[row]]
        if other.size < 2:
            return cluster.number
        keep, gone = (other, cluster) if other.number < cluster.number else (cluster, other)
        keep.total = keep.total + gone.total
        keep.size += gone.size
        keep.examples = (keep.examples + gone.examples)[: self.max_examples]
        if gone.last_seen is not None and (keep.last_seen is None or gone.last_seen > keep.last_seen):
            keep.last_seen = gone.last_seen
        self._remove(gone)
        self._matrix[keep.row] = keep.centroid()
        self._merged[gone.number] = keep.number
        if len(self._merged) > 4 * self.max_clusters:
            self._merged.pop(next(iter(self._merged)))
        return keep.number

    def _expire(self, now: dt.datetime) -> None:
        if self.expire_after is None:
            return
        cutoff = now - self.expire_after
        for cluster in [c for c in self._clusters.values() if c.last_seen is not None and c.last_seen < cutoff]:
            self._remove(cluster)

    def _drop_stalest(self) -> None:
        def staleness(cluster: _Cluster) -> tuple[float, int]:
            seen = cluster.last_seen.timestamp() if cluster.last_seen is not None else float("-inf")
            return (seen, cluster.number)

        self._remove(min(self._clusters.values(), key=staleness))

    def _find(self, topic: str) -> _Cluster | None:
        if not topic.startswith(CLUSTER_PREFIX):
            return None
        try:
            number = int(topic.removeprefix(CLUSTER_PREFIX))
        except ValueError:
            return None
        return self._clusters.get(self._resolve(number))

    def label(self, topic: str) -> str:
        """The most typical message of a cluster (nearest its centroid); other topic ids are their own label."""
        cluster = self._find(topic)
        if cluster is None or not cluster.examples:
            return topic
        centroid = cluster.centroid()
        return max(cluster.examples, key=lambda example: float(example[1] @ centroid))[0]

    def size(self, topic: str) -> int:
        """How many messages a cluster holds (0 when unknown or forgotten)."""
        cluster = self._find(topic)
        return cluster.size if cluster is not None else 0


class TopicGrouper:
    """Every message gets a topic: the assigner's when it places it, otherwise an online cluster's."""

    def __init__(self, assigner: TopicAssigner, *, encode: Encode, clusters: OnlineClusters | None = None) -> None:
        self.assigner = assigner
        self.clusters = clusters if clusters is not None else OnlineClusters()  # an empty one is falsy
        self._encode = encode

    def topics(self, texts: Sequence[str], *, at: Sequence[dt.datetime] | None = None) -> list[str]:
        """The topic of each text, in order (unplaced texts are clustered in that order)."""
        if at is not None and len(at) != len(texts):
            msg = f"got {len(texts)} texts but {len(at)} timestamps"
            raise ValueError(msg)
        placed = self.assigner.assign(texts)
        missing = [i for i, topic in enumerate(placed) if topic is None]
        vectors = _unit_rows(self._encode([texts[i] for i in missing])) if missing else None
        out = [topic or "" for topic in placed]
        for row, i in enumerate(missing):
            assert vectors is not None
            out[i] = self.clusters.add(texts[i], vectors[row], at=at[i] if at is not None else None)
        return out

    def peek(self, text: str) -> str | None:
        """The topic a message would get, changing nothing (no cluster grows or starts); None when it would
        start a new cluster."""
        [placed] = self.assigner.assign([text])
        if placed is not None:
            return placed
        return self.clusters.nearest(_unit_rows(self._encode([text]))[0])

    def label(self, topic: str) -> str:
        """What a person reads for a topic: the intent's name, or the cluster's most typical message."""
        return self.clusters.label(topic)
