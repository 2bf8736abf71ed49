"""The intent evaluation: metrics on hand-made labels, and the JSON of a small end-to-end run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.intents import IntentConfig
from agent.skills import SkillMap
from evaluation.intents import intent_metrics, macro_f1, run_intents_eval
from knowledge.embeddings import SentenceTransformerEmbedder

SKILLS = {
    "skills": {
        "orders": {"intents": ["CANCEL_ORDER", "ORDER_STATUS"], "priority": 2},
        "payments": {"intents": ["EMI"], "priority": 1},
    },
    "always_escalate": ["CANCEL_ORDER"],
}


def test_metrics_with_out_of_scope_and_skills() -> None:
    skills = SkillMap.from_dict(SKILLS)
    gold = ["CANCEL_ORDER", "ORDER_STATUS", "EMI", "oos", "oos", "WARRANTY"]
    predicted = ["ORDER_STATUS", "ORDER_STATUS", "oos", "oos", "EMI", "WARRANTY"]
    result = intent_metrics(gold, predicted, skills=skills)
    assert result["n_test"] == 6
    assert result["accuracy"] == round(3 / 6, 4)
    assert result["oos_recall"] == 0.5
    assert result["oos_precision"] == 0.5
    assert result["in_scope_accuracy"] == 0.5
    # CANCEL_ORDER -> ORDER_STATUS stays in "orders"; EMI -> oos loses its skill; WARRANTY has no skill
    assert result["skill_accuracy"] == round(2 / 3, 4)
    assert result["macro_f1"] == round(macro_f1(gold, predicted), 4)


def test_metrics_without_out_of_scope_labels() -> None:
    result = intent_metrics(["a", "b", "b"], ["a", "b", "a"])
    assert set(result) == {"accuracy", "macro_f1", "n_test"}
    assert result["macro_f1"] == round((2 / 3 + 2 / 3) / 2, 4)
    with pytest.raises(ValueError, match="2 gold labels but 1 predictions"):
        intent_metrics(["a", "b"], ["a"])


def _write(path: Path, header: str, rows: list[tuple[str, str]]) -> Path:
    lines = [header] + [f'"{text}",{label}' for text, label in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_run_intents_eval_returns_the_documented_json(
    tmp_path: Path, shared_data: Path, embedder: SentenceTransformerEmbedder
) -> None:
    source = (shared_data / "hint3" / "sofmattress_train.csv").read_text(encoding="utf-8").splitlines()[1:]
    rows = [tuple(line.rsplit(",", 1)) for line in source]
    wanted = [(text.strip('"'), label) for text, label in rows if label in {"CANCEL_ORDER", "ORDER_STATUS", "EMI"}]
    train = _write(tmp_path / "train.csv", "sentence,label", wanted[::2] + wanted[1::4])
    test_rows = wanted[3::4] + [("what is the capital of peru", "NO_NODES_DETECTED"), ("sing me a song", "oos")]
    test = _write(tmp_path / "test.csv", "text,label", test_rows)
    skills = tmp_path / "skills.json"
    skills.write_text(json.dumps(SKILLS), encoding="utf-8")
    config = IntentConfig(tuned_layers=1, epochs=1, min_steps=0, threads=1)
    result = run_intents_eval(train, test, skills_json=skills, embedder=embedder, config=config)
    expected = {"accuracy", "macro_f1", "n_test", "oos_recall", "oos_precision", "in_scope_accuracy"}
    assert expected | {"skill_accuracy"} <= set(result)
    assert result["n_test"] == len(test_rows)
    for key in expected | {"skill_accuracy"}:
        value = result[key]
        assert 0 <= value <= 1 or key == "n_test"
        assert round(value, 4) == value
    assert json.loads(json.dumps(result)) == result
