"""The analytics tables: the interaction log, emerging-issue alerts and their deliveries (webhook, e-mail)."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

events_table = sa.Table(
    "analytics_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(24), nullable=False),
    sa.Column("conversation_id", sa.String(128), nullable=False, index=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("channel", sa.String(32), nullable=True),
    sa.Column("customer", sa.String(64), nullable=True, index=True),
    sa.Column("intent", sa.String(128), nullable=True),
    sa.Column("skill", sa.String(128), nullable=True),
    sa.Column("topic", sa.String(128), nullable=True),
    sa.Column("confidence", sa.Float, nullable=True),
    sa.Column("latency_ms", sa.Float, nullable=True),
    sa.Column("reason", sa.String(64), nullable=True),
    sa.Column("actor", sa.String(64), nullable=True),
    sa.Column("value", sa.Float, nullable=True),
    sa.Column("text", sa.Text, nullable=True),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Index("ix_analytics_events_kind_at", "kind", "at"),
)

alerts_table = sa.Table(
    "analytics_alerts",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("topic", sa.String(128), nullable=False, index=True),
    sa.Column("label", sa.String(256), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # open, resolved
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("messages", sa.Integer, nullable=False),
    sa.Column("customers", sa.Integer, nullable=False),
    sa.Column("expected", sa.Float, nullable=False),  # messages the baseline expected meanwhile
    sa.Column("channels", sa.JSON, nullable=False),  # {"whatsapp": 12, "webchat": 30}
    sa.Column("examples", sa.JSON, nullable=False),  # redacted example messages
    sa.Column("notice", sa.Text, nullable=True),  # proactive web-chat notice, when a supervisor set one
    sa.Column("notice_active", sa.Boolean, nullable=False),
)

deliveries_table = sa.Table(
    "analytics_deliveries",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),  # the delivery id, the same on every retry
    sa.Column("alert_id", sa.String(36), nullable=False, index=True),
    sa.Column("event", sa.String(32), nullable=False),  # alert.opened, alert.updated, alert.resolved
    sa.Column("target", sa.String(16), nullable=False),  # webhook, email
    sa.Column("destination", sa.String(512), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),  # pending, sent, failed
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
)
