"""Knowledge base: the vectors of each chunk's sentences, computed at ingest.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # No foreign key to kb_chunks on purpose: the catalogue deletes these rows with their chunk (see
    # knowledge/catalog.py). Chunks ingested before this table existed get their vectors on first use.
    op.create_table(
        "kb_sentence_vectors",
        sa.Column("chunk_id", sa.String(2100), primary_key=True),
        sa.Column("content_key", sa.String(64), nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("dimension", sa.Integer, nullable=False),
        sa.Column("vectors", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("kb_sentence_vectors")
