"""Intent evaluation: train a classifier on one labelled file, measure it on another (and skill routing)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from agent.intents import OOS_LABEL, IntentClassifier, IntentConfig, load_labelled_csv
from agent.skills import SkillMap
from knowledge.embeddings import Embedder

DIGITS = 4


def macro_f1(gold: Sequence[str], predicted: Sequence[str]) -> float:
    """The unweighted mean F1 over every label seen in the gold or the predicted labels."""
    labels = sorted(set(gold) | set(predicted))
    scores: list[float] = []
    for label in labels:
        true_positive = sum(1 for g, p in zip(gold, predicted, strict=True) if g == label and p == label)
        gold_count = sum(1 for g in gold if g == label)
        predicted_count = sum(1 for p in predicted if p == label)
        denominator = gold_count + predicted_count
        scores.append(2 * true_positive / denominator if denominator else 0.0)
    return sum(scores) / len(scores) if scores else 0.0


def intent_metrics(
    gold: Sequence[str], predicted: Sequence[str], *, skills: SkillMap | None = None
) -> dict[str, float | int]:
    """Accuracy, macro F1 and count; out-of-scope recall, precision and in-scope accuracy when the gold
    labels include `oos`; skill accuracy (over in-scope messages whose gold intent has a skill) with skills."""
    if len(gold) != len(predicted):
        msg = f"got {len(gold)} gold labels but {len(predicted)} predictions"
        raise ValueError(msg)
    if not gold:
        msg = "cannot measure intents on an empty test set"
        raise ValueError(msg)
    pairs = list(zip(gold, predicted, strict=True))
    result: dict[str, float | int] = {
        "accuracy": round(sum(g == p for g, p in pairs) / len(pairs), DIGITS),
        "macro_f1": round(macro_f1(gold, predicted), DIGITS),
        "n_test": len(pairs),
    }
    in_scope = [(g, p) for g, p in pairs if g != OOS_LABEL]
    if len(in_scope) < len(pairs):
        said_oos = sum(p == OOS_LABEL for _, p in pairs)
        caught = sum(g == OOS_LABEL and p == OOS_LABEL for g, p in pairs)
        result["oos_recall"] = round(caught / (len(pairs) - len(in_scope)), DIGITS)
        result["oos_precision"] = round(caught / said_oos if said_oos else 0.0, DIGITS)
        result["in_scope_accuracy"] = round(
            sum(g == p for g, p in in_scope) / len(in_scope) if in_scope else 0.0, DIGITS
        )
    if skills is not None:
        routed = [(skills.skill_for(g), skills.skill_for(p)) for g, p in in_scope if skills.skill_for(g) is not None]
        if routed:
            result["skill_accuracy"] = round(sum(g == p for g, p in routed) / len(routed), DIGITS)
        else:
            result["skill_accuracy"] = 0.0
    return result


def run_intents_eval(
    train_csv: Path,
    test_csv: Path,
    *,
    skills_json: Path | None,
    embedder: Embedder,
    config: IntentConfig | None = None,
) -> dict[str, float | int]:
    """Train on `train_csv`, predict `test_csv` and return JSON-able metrics (see `intent_metrics`),
    with the training size and time and the mean prediction time per message in milliseconds."""
    skills = SkillMap.from_file(skills_json) if skills_json is not None else None
    train = load_labelled_csv(train_csv)
    test = load_labelled_csv(test_csv)
    classifier = IntentClassifier.train(train.texts, train.labels, embedder=embedder, config=config)
    started = time.perf_counter()
    predictions = classifier.predict_many(test.texts)
    elapsed = time.perf_counter() - started
    result = intent_metrics(test.labels, [p.intent for p in predictions], skills=skills)
    result["n_train"] = len(train)
    result["train_seconds"] = float(classifier.summary.get("train_seconds", 0.0))
    result["predict_ms_per_message"] = round(1000 * elapsed / len(test), 2)
    return result
