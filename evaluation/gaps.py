"""How well the knowledge-gap report groups questions: labelled messages of a few intents stand in for the
questions the knowledge base could not answer, and the topics found are compared with the intents.

Run: ``python -m evaluation.gaps ../shared/data/clinc150/train.csv --labels 12 --distance 0.45 0.55 0.65``;
prints one JSON object: per distance, the adjusted Rand index, normalised mutual information, purity (share of
questions in a topic whose majority intent is theirs), coverage (share of each intent's questions in its largest
topic), topics found against intents, and whether the biggest topic is the biggest intent.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from analytics.events import EventKind, InteractionEvent
from analytics.gaps import Encoder, GapSettings, find_gaps
from knowledge.embeddings import SentenceTransformerEmbedder

DIGITS = 4
OOS = "oos"


def load_messages(path: Path) -> list[tuple[str, str]]:
    """(text, label) pairs of a ``text,label`` CSV, out-of-scope messages left out."""
    import csv

    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"text", "label"} <= set(reader.fieldnames):
            msg = f"{path} needs a header with 'text' and 'label', got {reader.fieldnames}"
            raise ValueError(msg)
        return [(row["text"], row["label"]) for row in reader if row["label"] and row["label"] != OOS]


def sample(
    messages: Sequence[tuple[str, str]], labels: int, per_label: int, *, skewed: bool, seed: int
) -> list[tuple[str, str]]:
    """Messages of ``labels`` random intents: ``per_label`` each, or (skewed) per_label, per_label/2, ... (>= 2)."""
    rng = random.Random(seed)
    by_label: dict[str, list[str]] = {}
    for text, label in messages:
        by_label.setdefault(label, []).append(text)
    chosen = rng.sample(sorted(by_label), min(labels, len(by_label)))
    picked: list[tuple[str, str]] = []
    for rank, label in enumerate(chosen):
        size = max(2, round(per_label / (1 + rank / 2))) if skewed else per_label
        texts = by_label[label]
        picked += [(text, label) for text in rng.sample(texts, min(size, len(texts)))]
    rng.shuffle(picked)
    return picked


def as_events(questions: Sequence[tuple[str, str]]) -> list[InteractionEvent]:
    """One ungrounded answer per question, each in a conversation of its own."""
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    return [
        InteractionEvent(
            kind=EventKind.ANSWER,
            conversation_id=f"eval-{i}",
            at=start + dt.timedelta(minutes=i),
            confidence=0.1,
            data={"grounded": False, "question": text},
        )
        for i, (text, _) in enumerate(questions)
    ]


def grouping_metrics(gold: Sequence[str], found: Sequence[str]) -> dict[str, float | int]:
    """ARI, NMI, purity and coverage of a grouping ``found`` against the ``gold`` labels."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    pairs = list(zip(gold, found, strict=True))
    per_topic: dict[str, Counter[str]] = {}
    per_label: dict[str, Counter[str]] = {}
    for label, topic in pairs:
        per_topic.setdefault(topic, Counter())[label] += 1
        per_label.setdefault(label, Counter())[topic] += 1
    purity = sum(c.most_common(1)[0][1] for c in per_topic.values()) / len(pairs)
    coverage = sum(c.most_common(1)[0][1] for c in per_label.values()) / len(pairs)
    return {
        "ari": round(float(adjusted_rand_score(gold, found)), DIGITS),
        "nmi": round(float(normalized_mutual_info_score(gold, found)), DIGITS),
        "purity": round(purity, DIGITS),
        "coverage": round(coverage, DIGITS),
        "topics": len(per_topic),
        "intents": len(per_label),
        "singleton_topics": sum(1 for c in per_topic.values() if sum(c.values()) == 1),
    }


def run_gaps_eval(
    questions: Sequence[tuple[str, str]], encode: Encoder, distances: Sequence[float]
) -> list[dict[str, Any]]:
    """The grouping of ``questions`` (text, intent) by the gap report at each distance, measured."""
    events = as_events(questions)
    gold_of = {f"eval-{i}": label for i, (_, label) in enumerate(questions)}
    sizes = Counter(label for _, label in questions).most_common(2)
    biggest_intent = sizes[0][0] if len(sizes) == 1 or sizes[0][1] > sizes[1][1] else None
    results = []
    for distance in distances:
        started = time.perf_counter()
        topics = find_gaps(events, encode, GapSettings(distance=distance, max_questions=len(questions) + 1))
        seconds = time.perf_counter() - started
        found_of = {cid: topic.topic for topic in topics for cid in topic.conversation_ids}
        kept = sorted(found_of)  # questions of one word, and repeats, are not questions to group
        gold = [gold_of[cid] for cid in kept]
        found = [found_of[cid] for cid in kept]
        top = Counter(gold_of[cid] for cid in topics[0].conversation_ids).most_common(1)[0][0]
        results.append(
            {
                "distance": distance,
                **grouping_metrics(gold, found),
                "top_topic_is_top_intent": None if biggest_intent is None else top == biggest_intent,
                "seconds": round(seconds, 3),
            }
        )
    return results


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry: print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("data", type=Path, help="labelled messages (text,label CSV)")
    parser.add_argument("--labels", type=int, default=12, help="how many intents stand for missing articles")
    parser.add_argument("--per-label", type=int, default=12, help="questions per intent (the largest, if skewed)")
    parser.add_argument("--skewed", action="store_true", help="unequal topic sizes: n, n/1.5, n/2, ...")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--distance", type=float, nargs="+", default=[0.45, 0.55, 0.65])
    args = parser.parse_args(argv)
    embedder = SentenceTransformerEmbedder()
    messages = load_messages(args.data)
    runs = []
    for seed in args.seeds:
        questions = sample(messages, args.labels, args.per_label, skewed=args.skewed, seed=seed)
        runs.append(
            {
                "seed": seed,
                "questions": len(questions),
                "results": run_gaps_eval(questions, embedder.embed_documents, args.distance),
            }
        )
    mean: dict[str, dict[str, float]] = {}
    for distance in args.distance:
        rows = [r for run in runs for r in run["results"] if r["distance"] == distance]
        mean[str(distance)] = {
            key: round(sum(float(r[key]) for r in rows) / len(rows), DIGITS)
            for key in ("ari", "nmi", "purity", "coverage", "topics", "top_topic_is_top_intent")
            if all(r[key] is not None for r in rows)
        }
    report = {
        "data": str(args.data),
        "labels": args.labels,
        "per_label": args.per_label,
        "skewed": args.skewed,
        "mean": mean,
        "runs": runs,
    }
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
