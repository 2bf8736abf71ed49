"""The retrieval evaluation: metrics, question files, and Frontdesk against the baselines on real data."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from evaluation.metrics import METRIC_NAMES, ndcg_at, ranking_metrics, recall_at, reciprocal_rank
from evaluation.retrieval import load_questions, run_retrieval_eval
from knowledge.embeddings import SentenceTransformerEmbedder
from knowledge.errors import KnowledgeError


def test_metrics_on_a_known_ranking() -> None:
    ranking = ["a", "x", "b", "y"]
    assert recall_at(ranking, {"a", "b"}, 1) == 0.5
    assert recall_at(ranking, {"a", "b"}, 5) == 1.0
    assert reciprocal_rank(ranking, {"b"}) == pytest.approx(1 / 3)
    assert reciprocal_rank(ranking, {"z"}) == 0.0
    assert ndcg_at(ranking, {"a"}) == 1.0
    assert ndcg_at(["x", "a"], {"a"}) == pytest.approx(1 / 1.584962500721156)
    metrics = ranking_metrics(["x"] * 10 + ["a"], {"a"})  # found only beyond the 10th place
    assert set(metrics) == set(METRIC_NAMES)
    assert all(value == 0.0 for value in metrics.values())


def _write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_both_question_formats_load_and_turns_without_knowledge_are_skipped(tmp_path: Path) -> None:
    plain = load_questions(_write(tmp_path / "q.jsonl", [{"id": "q1", "question": "hi?", "relevant_ids": ["T1"]}]))
    assert [(q.id, q.history) for q in plain] == [("q1", ())]
    turns = [
        {
            "id": "t1",
            "history": [{"role": "customer", "text": "Hobsons House?"}, {"role": "agent", "text": "Yes."}],
            "question": "parking?",
            "needs_knowledge": True,
            "relevant_ids": ["h/1"],
            "answer": "yes",
        },
        {"id": "t2", "history": [], "question": "book it", "needs_knowledge": False},
    ]
    loaded = load_questions(_write(tmp_path / "t.jsonl", turns))
    assert [q.id for q in loaded] == ["t1"]
    assert loaded[0].history[0].role == "customer"
    assert loaded[0].relevant_ids == ("h/1",)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"question": "x", "relevant_ids": ["a"]}', "missing the 'id'"),
        ('{"id": "q", "question": "x", "relevant_ids": []}', "relevant_ids"),
        ('{"id": "q", "relevant_ids": ["a"]}', "no 'question'"),
        ('{"id": "q", "question": "x", "relevant_ids": ["a"], "history": [{"role": "bot", "text": "x"}]}', "role"),
        ('{"id": "q", "question": "x", "relevant_ids": ["a"], "needs_knowledge": "yes"}', "needs_knowledge"),
    ],
)
def test_a_malformed_question_file_names_the_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "ok", "question": "fine", "relevant_ids": ["a"]}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(KnowledgeError, match=message) as caught:
        load_questions(path)
    assert f"{path} line 2" in str(caught.value)


def _dstc_slice(shared_data: Path, tmp_path: Path, entities: int = 4, turns: int = 50) -> tuple[Path, Path]:
    """The documents of the entities most talked about in the first dev turns, and those turns."""
    kb = [json.loads(line) for line in (shared_data / "dstc11" / "kb.jsonl").read_text().splitlines()]
    dialogue = [json.loads(line) for line in (shared_data / "dstc11" / "turns_dev.jsonl").read_text().splitlines()]
    entity_of = {d["id"]: d["metadata"]["entity"] for d in kb}
    counts = Counter(entity_of[r] for t in dialogue if t["needs_knowledge"] for r in set(t["relevant_ids"]))
    chosen = {name for name, _ in counts.most_common(entities)}
    kept_turns = [
        t for t in dialogue if not t["needs_knowledge"] or all(entity_of[r] in chosen for r in t["relevant_ids"])
    ][:turns]
    kb_path = _write(tmp_path / "kb.jsonl", [d for d in kb if d["metadata"]["entity"] in chosen])
    return kb_path, _write(tmp_path / "turns.jsonl", kept_turns)


@pytest.mark.slow
def test_frontdesk_beats_both_baselines_on_dialogue_turns(
    shared_data: Path, tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    kb_path, turns_path = _dstc_slice(shared_data, tmp_path)
    result = run_retrieval_eval(kb_path, turns_path, embedder=embedder, workdir=tmp_path / "work")
    assert set(result) == {"n_questions", "methods"}
    assert 10 <= result["n_questions"] < 50  # the turns that need no knowledge are not counted
    methods = result["methods"]
    assert set(methods) == {"lexical", "dense", "frontdesk"}
    for metrics in methods.values():
        assert set(metrics) == set(METRIC_NAMES)
        assert all(isinstance(v, float) and 0.0 <= v <= 1.0 and round(v, 4) == v for v in metrics.values())
    for name in ("recall_at_5", "recall_at_10", "mrr_at_10", "ndcg_at_10"):
        best_baseline = max(methods["lexical"][name], methods["dense"][name])
        assert methods["frontdesk"][name] > best_baseline + 0.05, (name, methods)


@pytest.mark.slow
def test_frontdesk_matches_or_beats_the_baselines_on_faq_questions(
    shared_data: Path, tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    kb = (shared_data / "stackfaq" / "kb.jsonl").read_text().splitlines()[:20]
    kept = {json.loads(line)["id"] for line in kb}
    questions = [
        line
        for line in (shared_data / "stackfaq" / "questions_dev.jsonl").read_text().splitlines()
        if json.loads(line)["relevant_ids"][0] in kept
    ]
    (tmp_path / "kb.jsonl").write_text("\n".join(kb) + "\n", encoding="utf-8")
    (tmp_path / "q.jsonl").write_text("\n".join(questions) + "\n", encoding="utf-8")
    result = run_retrieval_eval(tmp_path / "kb.jsonl", tmp_path / "q.jsonl", embedder=embedder, workdir=tmp_path)
    assert result["n_questions"] == len(questions)
    methods = result["methods"]
    assert methods["frontdesk"]["mrr_at_10"] >= methods["dense"]["mrr_at_10"]
    assert methods["frontdesk"]["mrr_at_10"] > methods["lexical"]["mrr_at_10"] + 0.05
    # a second run reuses the embedded collection and gives the same figures
    again = run_retrieval_eval(tmp_path / "kb.jsonl", tmp_path / "q.jsonl", embedder=embedder, workdir=tmp_path)
    assert again == result
