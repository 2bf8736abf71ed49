"""Routing: human agents, teams, tickets, offers and their history.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "routing_teams",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("skills", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "routing_agents",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("team_id", sa.String(64), sa.ForeignKey("routing_teams.id", ondelete="SET NULL"), nullable=True),
        sa.Column("skills", sa.JSON, nullable=False),
        sa.Column("languages", sa.JSON, nullable=False),
        sa.Column("capacity", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("idle_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_offer_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_routing_agents_team_id", "routing_agents", ["team_id"])
    op.create_table(
        "routing_tickets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("channel_kind", sa.String(16), nullable=False),
        sa.Column("skill", sa.String(64), nullable=True),
        sa.Column("min_level", sa.Integer, nullable=False),
        sa.Column("language", sa.String(32), nullable=True),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("team_id", sa.String(64), nullable=True),
        sa.Column("target_agent_id", sa.String(64), nullable=True),
        sa.Column("target_team_id", sa.String(64), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=True),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("sla_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sla_breached", sa.Boolean, nullable=False),
        sa.Column("next_widen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution", sa.String(256), nullable=True),
    )
    op.create_index("ix_routing_tickets_queue", "routing_tickets", ["state", "priority", "created_at"])
    op.create_index("ix_routing_tickets_agent_id", "routing_tickets", ["agent_id"])
    op.create_index("ix_routing_tickets_conversation_id", "routing_tickets", ["conversation_id"])
    # At most one ticket per conversation that is not resolved, whatever the code does.
    op.create_index(
        "ux_routing_tickets_open_conversation",
        "routing_tickets",
        ["conversation_id"],
        unique=True,
        sqlite_where=sa.text("state != 'resolved'"),
        postgresql_where=sa.text("state != 'resolved'"),
    )
    op.create_table(
        "routing_offers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("routing_tickets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_routing_offers_ticket_id", "routing_offers", ["ticket_id"])
    op.create_index("ix_routing_offers_agent_id", "routing_offers", ["agent_id"])
    op.create_index("ix_routing_offers_due", "routing_offers", ["state", "expires_at"])
    # At most one open offer per ticket, whatever the code does.
    op.create_index(
        "ux_routing_offers_open_ticket",
        "routing_offers",
        ["ticket_id"],
        unique=True,
        sqlite_where=sa.text("state = 'open'"),
        postgresql_where=sa.text("state = 'open'"),
    )
    op.create_table(
        "routing_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("routing_tickets.id", ondelete="CASCADE"), nullable=True),
        sa.Column("conversation_id", sa.String(128), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=True),
        sa.Column("from_agent_id", sa.String(64), nullable=True),
        sa.Column("team_id", sa.String(64), nullable=True),
        sa.Column("offer_id", sa.Integer, nullable=True),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_routing_events_ticket_id", "routing_events", ["ticket_id"])
    op.create_index("ix_routing_events_kind_at", "routing_events", ["kind", "at"])


def downgrade() -> None:
    op.drop_table("routing_events")
    op.drop_table("routing_offers")
    op.drop_table("routing_tickets")
    op.drop_table("routing_agents")
    op.drop_table("routing_teams")
