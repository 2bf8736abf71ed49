"""The `frontdesk` command line: ingest with a report, search, list, delete, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from frontdesk.cli import app
from frontdesk.runtime import DEMO_KB

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FRONTDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_ingest_search_list_delete(env: Path) -> None:
    broken = env / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 truncated")
    first = runner.invoke(app, ["ingest", str(DEMO_KB / "returns-and-refunds.md"), str(broken), "--json"])
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert len(report["added"]) == 1 and report["failed"][0]["source"] == str(broken)
    assert "PDF" in report["failed"][0]["reason"]

    again = runner.invoke(app, ["ingest", str(DEMO_KB / "returns-and-refunds.md")])
    assert again.exit_code == 0 and "unchanged 1" in again.stdout

    found = runner.invoke(app, ["search", "how long does a refund take", "-k", "2", "--json"])
    assert found.exit_code == 0, found.output
    hits = json.loads(found.stdout)
    assert hits[0]["title"] == "Returns and refunds" and hits[0]["url"].startswith("https://")

    listed = runner.invoke(app, ["documents", "list"])
    doc_id = listed.stdout.split("\t")[0]
    assert doc_id.endswith("returns-and-refunds.md")
    assert runner.invoke(app, ["documents", "delete", doc_id]).exit_code == 0
    assert runner.invoke(app, ["documents", "delete", doc_id]).exit_code == 1


def test_clear_errors(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    only_bad = runner.invoke(app, ["ingest", str(env / "missing-folder")])
    assert only_bad.exit_code == 1 and "missing-folder" in only_bad.output

    bad_filter = runner.invoke(app, ["search", "refund", "--filter", "language"])
    assert bad_filter.exit_code == 2 and "key=value" in bad_filter.output

    monkeypatch.setenv("FRONTDESK_GEMINI_API_KEY", "changeme")
    placeholder = runner.invoke(app, ["documents", "list"])
    assert placeholder.exit_code == 1 and "FRONTDESK_GEMINI_API_KEY" in placeholder.output

    monkeypatch.delenv("FRONTDESK_GEMINI_API_KEY")
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nothing")
    no_db = runner.invoke(app, ["documents", "list"])
    assert no_db.exit_code == 1 and "cannot migrate the database" in no_db.output


def test_eval_retrieval_rejects_a_malformed_questions_file(env: Path, shared_data: Path) -> None:
    bad = env / "questions.jsonl"
    bad.write_text('{"id": "q1", "question": "hello"}\nnot json\n', encoding="utf-8")
    result = runner.invoke(
        app, ["eval", "retrieval", "--kb", str(shared_data / "stackfaq/kb.jsonl"), "--questions", str(bad)]
    )
    assert result.exit_code == 1
    assert "questions.jsonl" in result.output


def test_train_intents_refuses_bad_input_with_a_reason(env: Path) -> None:
    missing = runner.invoke(app, ["train-intents", str(env / "nothing.csv")])
    assert missing.exit_code == 1 and "nothing.csv" in missing.output
    one_intent = env / "one.csv"
    one_intent.write_text("text,label\nwhere is my order,ORDER_STATUS\nhas it shipped,ORDER_STATUS\n", encoding="utf-8")
    too_few = runner.invoke(app, ["train-intents", str(one_intent)])
    assert too_few.exit_code == 1 and "at least two in-scope intents" in too_few.output
    margin = runner.invoke(app, ["train-intents", str(one_intent), "--oos-margin", "0"])
    assert margin.exit_code == 1 and "oos_margin" in margin.output
    assert not (env / "data" / "intents").exists()


def test_several_workers_need_shared_storage_and_say_which(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    refused = runner.invoke(app, ["serve", "--workers", "2"])
    assert refused.exit_code == 2
    said = " ".join(refused.output.split())
    assert "PostgreSQL (FRONTDESK_DATABASE_URL)" in said and "Redis (FRONTDESK_REDIS_URL)" in said
    assert "a Chroma server (FRONTDESK_CHROMA_HOST)" in said
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", "postgresql://127.0.0.1:5432/test")
    monkeypatch.setenv("FRONTDESK_REDIS_URL", "redis://127.0.0.1:6379/15")
    still = runner.invoke(app, ["serve", "--workers", "2"])
    assert still.exit_code == 2 and "Chroma server" in still.output and "PostgreSQL" not in still.output
    assert runner.invoke(app, ["serve", "--workers", "0"]).exit_code == 2
