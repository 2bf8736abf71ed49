"""Topics: nearest labelled examples with an "unplaced" threshold, online clusters of the rest, both together."""

from __future__ import annotations

import csv
import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from analytics.topics import NearestExampleTopics, OnlineClusters, TopicGrouper, Vectors
from knowledge.embeddings import SentenceTransformerEmbedder

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


def direction(*weights: float) -> Vectors:
    vector = np.array(weights, dtype=np.float32)
    return vector / np.linalg.norm(vector)


class TableEncoder:
    """Fixed vectors for known texts (an honest fake of a sentence encoder)."""

    def __init__(self, table: dict[str, Vectors]) -> None:
        self.table = table
        self.calls = 0

    def __call__(self, texts: Sequence[str]) -> Vectors:
        self.calls += 1
        return np.stack([self.table[text] for text in texts])


TABLE = {
    "card 1": direction(1, 0.1, 0, 0),
    "card 2": direction(1, -0.1, 0, 0),
    "card 3": direction(1, 0, 0.1, 0),
    "pin 1": direction(0, 1, 0.1, 0),
    "pin 2": direction(0.1, 1, 0, 0),
    "pin 3": direction(0, 1, -0.1, 0),
    "card?": direction(1, 0.05, 0.05, 0),
    "pin?": direction(0.05, 1, 0, 0),
    "weather": direction(0, 0, 0, 1),
    "weather too": direction(0, 0.1, 0, 1),
    "music": direction(0, 0, 1, 0),
}


def test_nearest_examples_place_near_texts_and_leave_far_ones_unplaced() -> None:
    encode = TableEncoder(TABLE)
    topics = NearestExampleTopics(
        ["card 1", "card 2", "card 3", "pin 1", "pin 2", "pin 3"], ["card"] * 3 + ["pin"] * 3, encode=encode, k=2
    )
    assert topics.topics == ["card", "pin"]
    assert 0.9 < topics.threshold < 1.0  # calibrated: 95 % of the examples are nearer their neighbours than this
    assert topics.assign(["card?", "pin?", "weather", "music"]) == ["card", "pin", None, None]
    assert topics.assign_vectors(np.stack([TABLE["pin?"]])) == ["pin"]
    loose = NearestExampleTopics(["card 1", "pin 1"], ["card", "pin"], encode=encode, k=1, threshold=-1.0)
    assert loose.assign(["weather too"]) == ["pin"] and loose.assign([]) == []


@pytest.mark.parametrize(
    ("texts", "labels", "kwargs", "problem"),
    [
        (["card 1"], ["card", "pin"], {}, "1 texts but 2 labels"),
        ([], [], {}, "at least one"),
        (["card 1", "pin 1"], ["card", "pin"], {"k": 0}, "k must"),
        (["card 1", "pin 1"], ["card", "pin"], {"acceptance": 0.0}, "acceptance must"),
    ],
)
def test_nearest_examples_reject_bad_arguments(
    texts: list[str], labels: list[str], kwargs: dict[str, float], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        NearestExampleTopics(texts, labels, encode=TableEncoder(TABLE), **kwargs)  # type: ignore[arg-type]


def test_clusters_group_similar_messages_and_label_them_by_the_most_central() -> None:
    rng = np.random.default_rng(0)
    centres = {"outage": direction(1, 0, 0, 0, 0, 0), "refund": direction(0, 0, 1, 0, 0, 0)}
    clusters = OnlineClusters(threshold=0.6)
    seen: dict[str, set[str]] = defaultdict(set)
    for i in range(40):
        name = "outage" if i % 2 else "refund"
        noise = 0.15 if i > 1 else 0.4  # the first messages are poor examples
        vector = centres[name] + rng.normal(0, noise, 6).astype(np.float32) * np.array([0, 1, 0, 1, 0, 1])
        seen[name].add(clusters.add(f"{name} {i}", vector, at=T0 + dt.timedelta(minutes=i)))
    assert all(len(ids) == 1 for ids in seen.values()) and seen["outage"] != seen["refund"]
    outage = next(iter(seen["outage"]))
    assert outage.startswith("cluster:") and clusters.size(outage) == 20
    assert clusters.label(outage).startswith("outage") and clusters.label("card_arrival") == "card_arrival"
    assert clusters.label("cluster:999") == "cluster:999" and clusters.size("cluster:x") == 0


def test_clusters_stay_within_bounds_expire_and_merge() -> None:
    bounded = OnlineClusters(threshold=0.99, max_clusters=5, expire_after=None)
    for i in range(50):
        bounded.add(f"m{i}", np.eye(60, dtype=np.float32)[i], at=T0 + dt.timedelta(minutes=i))
    assert len(bounded) == 5 and bounded.size("cluster:50") == 1 and bounded.size("cluster:1") == 0
    expiring = OnlineClusters(expire_after=dt.timedelta(days=1))
    old = expiring.add("old", direction(1, 0, 0), at=T0)
    assert expiring.add("new", direction(0, 1, 0), at=T0 + dt.timedelta(days=2)) != old
    assert len(expiring) == 1 and expiring.size(old) == 0
    merging = OnlineClusters(threshold=0.95, merge_threshold=0.9)
    left = merging.add("a", direction(1, 0.0, 0))
    right = merging.add("b", direction(1, 0.6, 0))  # 0.86 similar: a cluster of its own
    assert left != right
    merging.add("a2", direction(1, 0.05, 0))
    merging.add("b2", direction(1, 0.3, 0))  # its centroid drifts to 0.92 of the other: merged into the older
    assert merging.add("a3", direction(1, 0.0, 0)) == left and len(merging) == 1
    assert merging.label(right) == merging.label(left) and merging.size(right) == 5


def test_clusters_reject_bad_arguments() -> None:
    with pytest.raises(ValueError, match="thresholds"):
        OnlineClusters(threshold=1.5)
    with pytest.raises(ValueError, match="max_clusters"):
        OnlineClusters(max_clusters=0)


def test_grouper_places_known_topics_and_clusters_the_rest() -> None:
    encode = TableEncoder(TABLE)
    known = NearestExampleTopics(["card 1", "card 2", "pin 1", "pin 2"], ["card", "card", "pin", "pin"], encode=encode)
    grouper = TopicGrouper(known, encode=encode)
    topics = grouper.topics(["card?", "weather", "pin?", "weather too", "music"], at=[T0] * 5)
    assert topics[0] == "card" and topics[2] == "pin"
    assert topics[1] == topics[3] != topics[4] and topics[1].startswith("cluster:")
    assert grouper.label(topics[1]) in {"weather", "weather too"} and grouper.label("card") == "card"
    with pytest.raises(ValueError, match="timestamps"):
        grouper.topics(["card?"], at=[])


@pytest.mark.slow
def test_real_embeddings_place_banking_messages_and_not_small_talk(
    embedder: SentenceTransformerEmbedder, shared_data: Path
) -> None:
    by_label: dict[str, list[str]] = defaultdict(list)
    with (shared_data / "banking77" / "train.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            by_label[row["label"]].append(row["text"])
    labels = ["card_arrival", "lost_or_stolen_phone", "exchange_rate", "pin_blocked"]
    train = [(text, label) for label in labels for text in by_label[label][:25]]
    test = [(text, label) for label in labels for text in by_label[label][25:40]]
    topics = NearestExampleTopics([t for t, _ in train], [label for _, label in train], encode=embedder.embed_documents)
    predicted = topics.assign([text for text, _ in test])
    correct = sum(p == label for p, (_, label) in zip(predicted, test, strict=True))
    assert correct >= 0.8 * len(test)
    off_topic = ["what's the weather like in paris tomorrow", "tell me a joke about cats", "set a timer for 5 minutes"]
    assert topics.assign(off_topic) == [None, None, None]


def test_a_grouper_keeps_the_clusters_it_is_given_even_empty() -> None:
    clusters = OnlineClusters(first_number=7000)

    class Nothing:
        def assign(self, texts: Sequence[str]) -> list[str | None]:
            return [None] * len(texts)

    grouper = TopicGrouper(Nothing(), encode=lambda texts: np.ones((len(texts), 4)), clusters=clusters)
    assert grouper.clusters is clusters
    assert grouper.topics(["first"]) == ["cluster:7000"], "numbering starts where the monitor said"
