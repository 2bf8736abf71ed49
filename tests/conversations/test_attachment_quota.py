"""Attachment quotas: over quota the message is still stored, its extra attachments are dropped with a note
the agents see, and the customer is told on their channel."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from agent.agent import SupportAgent
from agent.escalation import EscalationPolicy
from channels.messages import Attachment, InboundMessage
from conversations.inbox import Inbox
from conversations.intake import AttachmentQuota, Intake
from conversations.outbox import outbox_table
from conversations.store import ConversationStore


def _inbox(engine: sa.Engine, agent: SupportAgent, quota: AttachmentQuota) -> Inbox:
    intake = Intake(engine, lease=dt.timedelta(seconds=60), quota=quota)
    return Inbox(ConversationStore(engine), agent, EscalationPolicy(), intake=intake)


def _mail(sender: str, mid: str, *files: Attachment, conversation_id: str | None = None) -> InboundMessage:
    return InboundMessage(
        channel="email",
        sender=sender,
        text="Photos of the broken wheel attached.",
        attachments=files,
        provider_message_id=mid,
        conversation_id=conversation_id,
    )


def _photo(name: str, size: int = 4) -> Attachment:
    return Attachment(name, "image/jpeg", size, content=b"\xff" * size)


async def test_attachments_over_the_conversation_quota_are_dropped_not_the_message(
    engine: sa.Engine, demo_agent: SupportAgent
) -> None:
    inbox = _inbox(engine, demo_agent, AttachmentQuota(per_conversation=2, bytes_per_day=1_000))
    first = await inbox.receive(_mail("a@x.test", "<1@x>", _photo("1.jpg"), _photo("2.jpg"), _photo("3.jpg")))
    assert first.dropped_attachments == ("3.jpg",)
    assert [a["filename"] for a in inbox.intake.attachments(first.message_id)] == ["1.jpg", "2.jpg"]
    customer, note, notice = inbox.store.messages(first.conversation_id)
    assert customer.role == "customer" and customer.text == "Photos of the broken wheel attached."
    assert "dropped" in customer.details["attachments"][2] and "dropped" not in customer.details["attachments"][0]
    assert note.role == "system" and "3.jpg" in note.text and "at most 2 attachments" in note.text
    assert notice.role == "system" and "3.jpg" in notice.text, "the customer is told"
    with engine.connect() as conn:
        sent = [json.dumps(p) for p in conn.execute(sa.select(outbox_table.c.payload)).scalars()]
    assert any("3.jpg" in text for text in sent), "the notice goes out on the customer's channel"

    again = await inbox.receive(_mail("a@x.test", "<2@x>", _photo("4.jpg"), conversation_id=first.conversation_id))
    assert again.dropped_attachments == ("4.jpg",) and inbox.intake.attachments(again.message_id) == []
    retry = await inbox.receive(_mail("a@x.test", "<2@x>", _photo("4.jpg"), conversation_id=first.conversation_id))
    assert retry.duplicate and retry.dropped_attachments == (), "a provider's retry is not told twice"


async def test_attachment_bytes_are_limited_per_day_across_conversations(
    engine: sa.Engine, demo_agent: SupportAgent
) -> None:
    inbox = _inbox(engine, demo_agent, AttachmentQuota(per_conversation=50, bytes_per_day=10))
    kept = await inbox.receive(_mail("a@x.test", "<a@x>", _photo("a.jpg", 6)))
    assert kept.dropped_attachments == ()
    other = await inbox.receive(_mail("b@x.test", "<b@x>", _photo("b.jpg", 6), _photo("c.jpg", 4)))
    assert other.dropped_attachments == ("b.jpg",), "6 + 6 bytes is over the day's 10; 6 + 4 is not"
    link = Attachment("d.jpg", "image/jpeg", 0, url="https://media.example/d")
    linked = await inbox.receive(_mail("c@x.test", "<c@x>", link))
    assert linked.dropped_attachments == (), "a link to the provider's media stores no bytes"


def test_quotas_cannot_be_negative() -> None:
    with pytest.raises(ValueError, match="per_conversation=-1"):
        AttachmentQuota(per_conversation=-1)
