"""`frontdesk report gaps` on a database with interaction events: text, JSON with drafts, the period, errors."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analytics import EventKind, InteractionEvent, InteractionLog
from analytics.gap_drafts import DRAFT_MARK
from frontdesk import db
from frontdesk.cli import app
from frontdesk.settings import Settings

runner = CliRunner()
NOW = dt.datetime.now(dt.UTC)
PAYPAL = ("Can I pay with PayPal?", "do you accept paypal payments", "Is PayPal available as a payment method?")
GIFT_WRAP = ("Do you offer gift wrapping?", "can you wrap my order as a present")
REPLY = "Hi Tom, yes: we accept PayPal on every order. Pick PayPal on the payment step of the checkout."


def gap_events() -> list[InteractionEvent]:
    """Three ungrounded PayPal questions an hour ago (one resolved by a person), two gift-wrap ones three days
    ago, one grounded question."""
    events: list[InteractionEvent] = []
    asked = [(f"p{n}", NOW - dt.timedelta(hours=1), text, False) for n, text in enumerate(PAYPAL)]
    asked += [(f"g{n}", NOW - dt.timedelta(days=3), text, False) for n, text in enumerate(GIFT_WRAP)]
    asked.append(("ok", NOW - dt.timedelta(hours=2), "How long do refunds take?", True))
    for cid, when, text, grounded in asked:
        events.append(InteractionEvent(EventKind.MESSAGE_IN, cid, when, channel="sms", customer=f"k-{cid}", text=text))
        data = {"grounded": grounded, "question": text, "citations": [], "writer": "offline", "escalated": False}
        confidence = 0.9 if grounded else 0.3
        events.append(InteractionEvent(EventKind.ANSWER, cid, when, channel="sms", confidence=confidence, data=data))
    later = NOW - dt.timedelta(minutes=30)
    events.append(InteractionEvent(EventKind.HUMAN_REPLY, "p0", later, actor="ana", text=REPLY))
    events.append(InteractionEvent(EventKind.RESOLUTION, "p0", later, actor="ana", data={"by": "human"}))
    return events


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FRONTDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("FRONTDESK_GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("FRONTDESK_CHAT_MODEL", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def record(events: list[InteractionEvent]) -> None:
    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = db.create_engine(settings.resolved_database_url)
    db.upgrade(engine)
    log = InteractionLog(engine)
    for event in events:
        log.record(event)
    log.flush()
    engine.dispose()


def test_an_empty_database_has_no_gaps(env: Path) -> None:
    result = runner.invoke(app, ["report", "gaps"])
    assert result.exit_code == 0, result.output
    assert "No knowledge gaps" in result.stdout


def test_the_report_as_text_and_as_json_with_drafts(env: Path) -> None:
    record(gap_events())
    text = runner.invoke(app, ["report", "gaps"], env={"COLUMNS": "200"})
    assert text.exit_code == 0, text.output
    out = text.stdout
    assert "5 unanswered questions in 2 topics" in out
    assert out.index("PayPal") < out.index("gift"), "the most asked topic comes first"
    assert "3 questions, 3 conversations, 3 customers" in out and "why: not grounded 3" in out
    assert "How long do refunds take?" not in out and DRAFT_MARK not in out

    result = runner.invoke(app, ["report", "gaps", "--days", "1", "--drafts", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert (body["questions"], body["topics"]) == (3, 1), "the gift-wrap questions are older than a day"
    (paypal,) = body["gaps"]
    assert set(paypal) == {
        "topic", "label", "count", "conversations", "customers", "examples", "reasons", "first_seen", "last_seen",
        "draft",
    }  # fmt: skip
    assert paypal["label"] in PAYPAL and paypal["count"] == 3 and paypal["reasons"] == {"not_grounded": 3}
    assert (
        paypal["draft"].startswith(DRAFT_MARK) and "Pick PayPal on the payment step of the checkout." in paypal["draft"]
    )
    assert "Tom" not in paypal["draft"]

    since = (NOW - dt.timedelta(days=5)).date().isoformat()
    limited = json.loads(runner.invoke(app, ["report", "gaps", "--since", since, "--limit", "1", "--json"]).stdout)
    assert (limited["topics"], len(limited["gaps"])) == (2, 1) and limited["gaps"][0]["draft"] is None


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--since", "2025-01-01", "--days", "3"], "not both"),
        (["--since", "last tuesday"], "ISO 8601"),
        (["--since", "2999-01-01"], "the period is empty"),
        (["--limit", "0"], "greater than or equal to 1"),
    ],
)
def test_bad_options_are_refused_with_a_reason(env: Path, args: list[str], reason: str) -> None:
    result = runner.invoke(app, ["report", "gaps", *args])
    assert result.exit_code == 2 and reason in result.output
