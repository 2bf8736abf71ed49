"""Delivery status: what providers later said of each message they took.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "delivery_status",
        sa.Column("channel", sa.String(32), primary_key=True),
        sa.Column("provider_message_id", sa.String(256), primary_key=True),
        sa.Column("outbox_id", sa.Integer, sa.ForeignKey("outbox.id", ondelete="CASCADE"), nullable=False),
        sa.Column("conversation_id", sa.String(128), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("error_code", sa.String(32), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_delivery_status_outbox_id", "delivery_status", ["outbox_id"])


def downgrade() -> None:
    op.drop_index("ix_delivery_status_outbox_id", table_name="delivery_status")
    op.drop_table("delivery_status")
