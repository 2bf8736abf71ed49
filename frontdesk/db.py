"""The database engine (SQLite by default, PostgreSQL by URL) and the migrations of every part."""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

MIGRATIONS = Path(__file__).with_name("migrations")
LOCK_PATIENCE_SECONDS = 30.0
logger = logging.getLogger(__name__)


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
        turns = _Turns()
        engine = sa.create_engine(
            parsed, connect_args={"check_same_thread": False, "timeout": 30, "factory": turns.connection_class()}
        )

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: object, _record: object) -> None:
            cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        sa.event.listen(engine, "begin", turns.take)
        return engine
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return sa.create_engine(parsed, pool_pre_ping=True, pool_size=10, max_overflow=20)


class _Turns:
    """In this process, SQLite transactions take turns: a re-entrant lock from begin until the commit or
    rollback has happened in SQLite.

    SQLite has one writer at a time. Threads that write at once otherwise meet a locked database and wait in
    SQLite's busy handler, which sleeps in steps of up to 100 ms: under load, most of a turn's time. Taking
    turns in the process costs a few microseconds instead. A transaction opened inside another on the same
    thread passes (the lock is re-entrant). Other processes still meet SQLite's own lock: several workers
    want PostgreSQL. The lock is given back by the DBAPI connection itself, after its commit or rollback
    returned (SQLAlchemy's commit event comes before the commit).
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()

    def take(self, conn: sa.Connection) -> None:
        dbapi = conn.connection.dbapi_connection
        if not isinstance(dbapi, _TakingTurns):  # pragma: no cover - every connection comes from the factory
            return
        # A transaction that never ended (a bug) must not stop the process: after a while, go on without
        # taking turns; SQLite's own lock still keeps the data whole.
        if not self.lock.acquire(timeout=LOCK_PATIENCE_SECONDS):
            logger.error("a SQLite transaction waited %s s for its turn; going on without it", LOCK_PATIENCE_SECONDS)
            return
        dbapi.turns_held += 1

    def connection_class(self) -> type[sqlite3.Connection]:
        lock = self.lock

        class Connection(_TakingTurns):
            turn_lock = lock

        return Connection


class _TakingTurns(sqlite3.Connection):
    turn_lock: threading.RLock
    turns_held = 0

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._give_back()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._give_back()

    def close(self) -> None:
        try:
            super().close()
        finally:
            while self.turns_held:
                self._give_back()

    def _give_back(self) -> None:
        if self.turns_held > 0:
            self.turns_held -= 1
            self.turn_lock.release()


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
