"""Analytics: the interaction log, emerging-issue alerts and their deliveries.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analytics_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("conversation_id", sa.String(128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.String(32), nullable=True),
        sa.Column("customer", sa.String(64), nullable=True),
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
    )
    op.create_index("ix_analytics_events_conversation_id", "analytics_events", ["conversation_id"])
    op.create_index("ix_analytics_events_at", "analytics_events", ["at"])
    op.create_index("ix_analytics_events_customer", "analytics_events", ["customer"])
    op.create_index("ix_analytics_events_kind_at", "analytics_events", ["kind", "at"])
    op.create_table(
        "analytics_alerts",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("topic", sa.String(128), nullable=False),
        sa.Column("label", sa.String(256), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("messages", sa.Integer, nullable=False),
        sa.Column("customers", sa.Integer, nullable=False),
        sa.Column("expected", sa.Float, nullable=False),
        sa.Column("channels", sa.JSON, nullable=False),
        sa.Column("examples", sa.JSON, nullable=False),
        sa.Column("notice", sa.Text, nullable=True),
        sa.Column("notice_active", sa.Boolean, nullable=False),
    )
    op.create_index("ix_analytics_alerts_topic", "analytics_alerts", ["topic"])
    op.create_table(
        "analytics_deliveries",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("alert_id", sa.String(36), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("target", sa.String(16), nullable=False),
        sa.Column("destination", sa.String(512), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_analytics_deliveries_alert_id", "analytics_deliveries", ["alert_id"])
    op.create_index("ix_analytics_deliveries_status", "analytics_deliveries", ["status"])


def downgrade() -> None:
    op.drop_table("analytics_deliveries")
    op.drop_table("analytics_alerts")
    op.drop_table("analytics_events")
