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


def test_sqlite_transactions_of_many_threads_take_turns(tmp_path: Path) -> None:
    # Threads writing at once used to meet a locked database and sleep in SQLite's busy handler; with a busy
    # timeout of 0 they would fail at once. In this process they take turns instead, and nothing is lost.
    import threading

    engine = db.create_engine(f"sqlite:///{tmp_path / 'turns.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE hits (n INTEGER)"))
        conn.execute(sa.text("PRAGMA busy_timeout = 0"))
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for _ in range(40):
                with engine.begin() as conn:
                    conn.execute(sa.text("PRAGMA busy_timeout = 0"))  # no waiting in SQLite: a clash would fail
                    count = conn.execute(sa.text("SELECT count(*) FROM hits")).scalar_one()
                    conn.execute(sa.text("INSERT INTO hits VALUES (:n)"), {"n": count})
                    with engine.connect() as nested:  # a read on a second connection of the same thread passes
                        nested.execute(sa.text("SELECT 1")).scalar_one()
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors[:3]
    with engine.connect() as conn:
        numbers = [row[0] for row in conn.execute(sa.text("SELECT n FROM hits ORDER BY n"))]
    assert numbers == list(range(240)), "each transaction saw every earlier one: they ran one at a time"
    engine.dispose()
