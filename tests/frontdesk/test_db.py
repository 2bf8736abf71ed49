"""Migrations: they build exactly the tables the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from frontdesk import db
from frontdesk.migrations_registry import all_metadata


def test_migrations_match_the_models(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn)
        merged = sa.MetaData()
        for part in all_metadata():
            for table in part.tables.values():
                table.to_metadata(merged)
        diff = compare_metadata(context, merged)
    assert diff == []


def test_upgrade_is_idempotent(engine: sa.Engine) -> None:
    db.upgrade(engine)
    assert {"kb_documents", "kb_chunks", "kb_revision"} <= set(sa.inspect(engine).get_table_names())


def test_bad_url_is_a_clear_error() -> None:
    with pytest.raises(db.DatabaseError, match="invalid database URL"):
        db.create_engine("not a url")


def test_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    engine = db.create_engine("postgresql://postgres@127.0.0.1:1/nothing")
    with pytest.raises(db.DatabaseError, match="not answering"):
        db.ping(engine)
    with pytest.raises(db.DatabaseError, match="cannot migrate"):
        db.upgrade(engine)
