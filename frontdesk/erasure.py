"""Erasing a customer: their conversations and everything kept about them, from every part's tables.

A customer is found by the address they wrote from (phone number, e-mail address, web-chat visitor id), as
the channels record it (`whatsapp:+34...` for WhatsApp) or as a person types it (`+34...`, any letter case).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from analytics import EventKind, InteractionLog
from analytics.tables import alerts_table
from frontdesk.conversations import conversations_table, messages_table
from frontdesk.intake import inbound_receipts_table, pending_replies_table
from frontdesk.outbox import delivery_status_table, outbox_table
from routing import Router

CHANNEL_PREFIXES = ("", "whatsapp:", "sms:", "messenger:")


@dataclass(slots=True)
class Erasure:
    """What an erasure removed, per table."""

    customer: str
    conversations: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def address_forms(address: str) -> list[str]:
    """The forms the address may be stored in, lower-cased."""
    clean = address.strip().lower()
    if not clean:
        msg = "the customer's address is empty: give the phone number, e-mail address or visitor id they wrote from"
        raise ValueError(msg)
    bare = clean.split(":", 1)[1] if clean.split(":", 1)[0] in {p.rstrip(":") for p in CHANNEL_PREFIXES if p} else clean
    return sorted({clean, *(prefix + bare for prefix in CHANNEL_PREFIXES)})


def customer_conversations(engine: sa.Engine, address: str) -> list[str]:
    """The ids of the conversations this customer wrote from `address`."""
    c = conversations_table.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(c.id).where(sa.func.lower(c.customer_ref).in_(address_forms(address))))
        return sorted(row.id for row in rows)


def erase_customer(
    engine: sa.Engine,
    address: str,
    *,
    log: InteractionLog,
    customer_keys: list[str],
    router: Router | None = None,
) -> Erasure:
    """Remove the customer's conversations, messages, queued and sent replies, delivery reports, routing
    tickets and history, console notes and interaction events, and their messages among alert examples."""
    erasure = Erasure(customer=address)
    ids = customer_conversations(engine, address)
    erasure.conversations = ids
    their_texts = {
        event.text
        for key in customer_keys
        for event in log.events(kinds=[EventKind.MESSAGE_IN], customer=key)
        if event.text
    }
    with engine.begin() as conn:
        for name, table in (
            ("delivery_status", delivery_status_table),
            ("outbox", outbox_table),
            ("pending_replies", pending_replies_table),
            ("inbound_receipts", inbound_receipts_table),
            ("messages", messages_table),
        ):
            erasure.rows[name] = conn.execute(sa.delete(table).where(table.c.conversation_id.in_(ids))).rowcount
        # conversation keys, attachments and console notes go with their conversation or message (ON DELETE CASCADE)
        erasure.rows["conversations"] = conn.execute(
            sa.delete(conversations_table).where(conversations_table.c.id.in_(ids))
        ).rowcount
        erasure.rows["alert_examples"] = _scrub_alert_examples(conn, their_texts)
    if router is not None:
        erasure.rows["routing_tickets"] = router.erase_conversations(ids)
    events = log.erase(conversation_ids=ids)
    for key in customer_keys:
        events += log.erase(customer=key)
    erasure.rows["analytics_events"] = events
    return erasure


def _scrub_alert_examples(conn: sa.Connection, texts: set[str]) -> int:
    if not texts:
        return 0
    changed = 0
    for row in conn.execute(sa.select(alerts_table.c.id, alerts_table.c.examples)).all():
        examples = list(row.examples or [])
        kept = [example for example in examples if example not in texts]
        if len(kept) != len(examples):
            conn.execute(sa.update(alerts_table).where(alerts_table.c.id == row.id).values(examples=kept))
            changed += len(examples) - len(kept)
    return changed
