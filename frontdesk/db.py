"""The database engine (SQLite by default, PostgreSQL by URL) and the migrations of every part."""

from __future__ import annotations

import threading
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

MIGRATIONS = Path(__file__).with_name("migrations")


class DatabaseError(Exception):
    """The database URL is wrong or the database cannot be reached."""


def create_engine(url: str) -> sa.Engine:
    """An engine for `url`; SQLite gets WAL mode and foreign keys, PostgreSQL a connection pool."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as exc:
        msg = f"invalid database URL {url!r}: expected e.g. sqlite:///data/frontdesk.db or postgresql+psycopg://..."
        raise DatabaseError(msg) from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, connect_args={"check_same_thread": False, "timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: object, _record: object) -> None:
            cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        _one_transaction_at_a_time(engine)
        return engine
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return sa.create_engine(parsed, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _one_transaction_at_a_time(engine: sa.Engine) -> None:
    """In this process, SQLite transactions take turns (a re-entrant lock from begin to commit or rollback).

    SQLite has one writer at a time. Threads that write at once otherwise meet a locked database and wait in
    SQLite's busy handler, which sleeps in steps of up to 100 ms: under load, most of a turn's time. Taking
    turns in the process costs a few microseconds instead. A transaction opened inside another on the same
    thread passes (the lock is re-entrant), as it did before. Other processes still meet SQLite's own lock:
    several workers want PostgreSQL.
    """
    lock = threading.RLock()
    held = "frontdesk_lock_held"

    @sa.event.listens_for(engine, "begin")
    def _take(conn: sa.Connection) -> None:
        lock.acquire()
        conn.info[held] = conn.info.get(held, 0) + 1

    def _give(conn: sa.Connection) -> None:
        if conn.info.get(held, 0) > 0:
            conn.info[held] -= 1
            lock.release()

    sa.event.listen(engine, "commit", _give)
    sa.event.listen(engine, "rollback", _give)


def alembic_config(engine: sa.Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: sa.Engine) -> None:
    """Bring the database schema to the newest migration."""
    try:
        command.upgrade(alembic_config(engine), "head")
    except sa.exc.OperationalError as exc:
        msg = f"cannot migrate the database at {engine.url.render_as_string(hide_password=True)}: {exc.orig}"
        raise DatabaseError(msg) from exc


def ping(engine: sa.Engine) -> None:
    """Raise `DatabaseError` unless the database answers."""
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        msg = f"database {engine.url.render_as_string(hide_password=True)} is not answering: {exc}"
        raise DatabaseError(msg) from exc
