"""Console sign-ins: progressive delays per account and per address replace the lock after N failures.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_sign_in_delays",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_console_sign_in_delays_updated_at", "console_sign_in_delays", ["updated_at"])
    op.drop_index("ix_console_sign_in_failures_key_at", table_name="console_sign_in_failures")
    op.drop_table("console_sign_in_failures")


def downgrade() -> None:
    op.create_table(
        "console_sign_in_failures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_console_sign_in_failures_key_at", "console_sign_in_failures", ["key", "at"])
    op.drop_index("ix_console_sign_in_delays_updated_at", table_name="console_sign_in_delays")
    op.drop_table("console_sign_in_delays")
