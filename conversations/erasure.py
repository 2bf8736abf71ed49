"""Erasing a customer: their conversations and everything kept about them, from every part's tables.

A customer is found by the address they wrote from (phone number, e-mail address, web-chat visitor id), as
the channels record it (`whatsapp:+34...` for WhatsApp) or as a person types it (`+34...`, any letter case).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sqlalchemy as sa

from analytics import EventKind, InteractionLog
from analytics.tables import alerts_table, deliveries_table
from conversations.intake import inbound_receipts_table, pending_replies_table
from conversations.outbox import delivery_status_table, outbox_table
from conversations.store import conversations_table, delete_conversations
from routing import Router

CHANNEL_PREFIXES = ("", "whatsapp:", "sms:", "messenger:")
ERASED_LABEL = "(a customer's message, erased)"
PHONE = re.compile(r"[+\d][\d\s().-]{5,}")
SEPARATORS = re.compile(r"[\s().-]")


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
    if PHONE.fullmatch(clean):  # "+34 600 11 22 33" as a person types it, stored as +34600112233
        clean = SEPARATORS.sub("", clean)
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
    tickets and history, console notes and interaction events, and their messages among alerts and their
    announcements. A running service may still hold a few of their recent messages in memory (the
    emerging-issue monitor's clusters) until they age out."""
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
        ):
            erasure.rows[name] = conn.execute(sa.delete(table).where(table.c.conversation_id.in_(ids))).rowcount
        # conversation keys, attachments and console notes go with their conversation or message (ON DELETE CASCADE)
        erasure.rows["messages"], erasure.rows["conversations"] = delete_conversations(conn, ids)
        erasure.rows["alert_examples"] = _scrub_alert_examples(conn, their_texts)
    if router is not None:
        erasure.rows["routing_tickets"] = router.erase_conversations(ids)
    events = log.erase(conversation_ids=ids)
    for key in customer_keys:
        events += log.erase(customer=key)
    erasure.rows["analytics_events"] = events
    return erasure


def _scrub_alert_examples(conn: sa.Connection, texts: set[str]) -> int:
    """Take the customer's messages out of alerts (examples, and a cluster's label, which is one of its
    messages) and out of the announcements stored with them; returns how many copies went."""
    if not texts:
        return 0
    changed = 0
    for row in conn.execute(sa.select(alerts_table.c.id, alerts_table.c.examples, alerts_table.c.label)).all():
        examples = [example for example in row.examples or [] if example not in texts]
        label = ERASED_LABEL if row.label in texts else row.label
        removed = len(row.examples or []) - len(examples) + (label != row.label)
        if removed:
            conn.execute(
                sa.update(alerts_table).where(alerts_table.c.id == row.id).values(examples=examples, label=label)
            )
            changed += removed
    for delivery in conn.execute(sa.select(deliveries_table.c.id, deliveries_table.c.payload)).all():
        payload = dict(delivery.payload or {})
        alert = dict(payload.get("alert") or {})
        examples = [example for example in alert.get("examples") or [] if example not in texts]
        removed = len(alert.get("examples") or []) - len(examples) + (alert.get("label") in texts)
        if removed:
            alert["examples"] = examples
            alert["label"] = ERASED_LABEL if alert.get("label") in texts else alert.get("label")
            payload["alert"] = alert
            conn.execute(
                sa.update(deliveries_table).where(deliveries_table.c.id == delivery.id).values(payload=payload)
            )
            changed += removed
    return changed
