"""`frontdesk erase --customer`: a customer's data leaves every table, other customers' data stays."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from analytics import InteractionLog
from analytics.tables import alerts_table, deliveries_table, events_table
from channels.messages import InboundMessage, OutboundMessage, ThreadKey
from conversations.inbox import redact_text
from conversations.intake import Intake
from conversations.interactions import Interactions
from conversations.outbox import Outbox
from conversations.store import ConversationStore
from frontdesk import db
from frontdesk.cli import app
from frontdesk.console.notes import NoteStore
from frontdesk.runtime import analytics_key
from frontdesk.settings import Settings
from routing import EscalationRequest, Router, RoutingConfig

runner = CliRunner()
ANA, BOB, OURS = "whatsapp:+15550003333", "whatsapp:+15550004444", "whatsapp:+15559990000"


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("FRONTDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return Settings(_env_file=None)  # type: ignore[call-arg]


def _customer_with_history(engine: sa.Engine, settings: Settings, sender: str, sid: str) -> str:
    store = ConversationStore(engine)
    log = InteractionLog(engine)
    interactions = Interactions(log, store, redact=redact_text, secret=analytics_key(settings))
    message = InboundMessage(
        channel="whatsapp",
        sender=sender,
        recipient=OURS,
        text=f"My card was charged twice ({sid})",
        provider_message_id=sid,
        thread_keys=(ThreadKey(f"wa:{sender}:{OURS}", open_only=True),),
    )
    receipt = Intake(engine).receive(message, redact=redact_text)
    conversation_id = receipt.conversation_id
    interactions.message_in(message, conversation_id)
    log.flush()
    Outbox(engine).enqueue(
        OutboundMessage(
            message_id=f"r-{sid}", conversation_id=conversation_id, channel="whatsapp", recipient=sender, text="On it"
        )
    )
    Router(engine, RoutingConfig()).escalate(
        EscalationRequest(conversation_id=conversation_id, channel="whatsapp", reason="customer_asked_for_human")
    )
    NoteStore(engine).add(conversation_id, "ana", f"called {sender} back")
    with engine.begin() as conn:
        conn.execute(
            sa.insert(alerts_table).values(
                id=f"alert-{sid}",
                topic="card_payment",
                label="card payment",
                status="open",
                started_at=sa.func.now(),
                detected_at=sa.func.now(),
                updated_at=sa.func.now(),
                messages=2,
                customers=2,
                expected=0.5,
                channels={"whatsapp": 2},
                examples=[redact_text(message.text), "someone else's message"],
                notice_active=False,
            )
        )
        conn.execute(
            sa.insert(deliveries_table).values(
                id=f"delivery-{sid}",
                alert_id=f"alert-{sid}",
                event="alert.opened",
                target="webhook",
                destination="http://127.0.0.1:9/hook",
                payload={"alert": {"label": redact_text(message.text), "examples": [redact_text(message.text)]}},
                status="pending",
                attempts=0,
                next_attempt_at=sa.func.now(),
                created_at=sa.func.now(),
            )
        )
    return conversation_id


def _counts(engine: sa.Engine, conversation_id: str) -> dict[str, int]:
    tables = ["conversations", "messages", "outbox", "pending_replies", "routing_tickets", "console_notes"]
    counts: dict[str, int] = {}
    with engine.connect() as conn:
        for table in tables:
            column = "id" if table == "conversations" else "conversation_id"
            counts[table] = conn.execute(
                sa.text(f"SELECT count(*) FROM {table} WHERE {column} = :c"), {"c": conversation_id}
            ).scalar_one()
        counts["analytics_events"] = conn.execute(
            sa.select(sa.func.count())
            .select_from(events_table)
            .where(events_table.c.conversation_id == conversation_id)
        ).scalar_one()
    return counts


def test_erase_removes_one_customer_everywhere_and_keeps_the_others(settings: Settings) -> None:
    engine = db.create_engine(settings.resolved_database_url)
    db.upgrade(engine)
    ana = _customer_with_history(engine, settings, ANA, "SMa")
    bob = _customer_with_history(engine, settings, BOB, "SMb")
    assert all(_counts(engine, ana).values()) and all(_counts(engine, bob).values())

    result = runner.invoke(app, ["erase", "--customer", "+1 555 000-3333", "--yes", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["conversations"] == [ana] and report["rows"]["messages"] == 1
    assert report["rows"]["analytics_events"] == 1 and report["rows"]["routing_tickets"] == 1
    assert not any(_counts(engine, ana).values()), "nothing of Ana is left"
    assert all(_counts(engine, bob).values()), "Bob's data is untouched"
    with engine.connect() as conn:
        examples = {row.id: row.examples for row in conn.execute(sa.select(alerts_table))}
    assert all("(SMa)" not in " ".join(texts) for texts in examples.values())
    assert any("(SMb)" in " ".join(texts) for texts in examples.values())
    with engine.connect() as conn:
        payloads = {row.id: row.payload for row in conn.execute(sa.select(deliveries_table))}
    assert "(SMa)" not in str(payloads["delivery-SMa"]) and "(SMb)" in str(payloads["delivery-SMb"])
    engine.dispose()


def test_erase_refuses_an_empty_address_and_asks_before_erasing(settings: Settings) -> None:
    empty = runner.invoke(app, ["erase", "--customer", "  "])
    assert empty.exit_code == 1 and "address is empty" in empty.output
    declined = runner.invoke(app, ["erase", "--customer", "+15550009999"], input="n\n")
    assert declined.exit_code == 1 and "nothing erased" in declined.output
    unknown = runner.invoke(app, ["erase", "--customer", "+15550009999", "--yes"])
    assert unknown.exit_code == 1 and "nothing was found" in unknown.output
