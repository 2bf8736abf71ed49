"""The agent console's tables: console accounts (a password for a routing agent), their sign-in sessions,
the delays after failed sign-ins (counted across workers) and internal notes on conversations.

They join the conversations metadata (frontdesk owns them, like the intake's and the outbox's tables). Agent
ids carry no foreign key to routing's agents: routing owns those rows and may remove an agent whose history
(and console account) outlives them.
"""

from __future__ import annotations

import sqlalchemy as sa

from conversations.store import metadata

accounts_table = sa.Table(
    "console_accounts",
    metadata,
    sa.Column("agent_id", sa.String(64), primary_key=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# The token itself never reaches the database: only its SHA-256, so a leaked table opens no session.
sessions_table = sa.Table(
    "console_sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column(
        "agent_id",
        sa.String(64),
        sa.ForeignKey("console_accounts.agent_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
)

# One row per account or address with recent failed sign-ins: how many, and when the next attempt may be
# checked. Every attempt updates its rows in one statement, so parallel guesses cannot skip a delay.
sign_in_delays_table = sa.Table(
    "console_sign_in_delays",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("next_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, index=True),
)

notes_table = sa.Table(
    "console_notes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "conversation_id",
        sa.String(128),
        sa.ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("agent_id", sa.String(64), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
