"""Alembic environment: one migration history for the tables of every part."""

from __future__ import annotations

from alembic import context

from frontdesk.migrations_registry import all_metadata

target_metadata = all_metadata()


def run_migrations() -> None:
    engine = context.config.attributes["engine"]
    with engine.begin() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        context.run_migrations()


run_migrations()
