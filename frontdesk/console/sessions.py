"""Sign-in sessions: a random token in an HttpOnly cookie, stored server-side only as its SHA-256, with an
expiry, and a CSRF token the page sends back on every change.

Kept in the database, so every worker knows every session and signing out (or a new password, or a disabled
account) ends it everywhere at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from conversations.intake import utc
from frontdesk.console.accounts import Clock, system_clock
from frontdesk.console.tables import accounts_table, sessions_table

TOUCH_EVERY = dt.timedelta(minutes=1)


def token_hash(token: str) -> str:
    """The SHA-256 (hex) under which a session token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A signed-in agent's session; `token` is set only when the session was just opened."""

    agent_id: str
    token_hash: str
    csrf_token: str
    created_at: dt.datetime
    expires_at: dt.datetime
    token: str | None = None

    def csrf_matches(self, given: str | None) -> bool:
        """Whether `given` is this session's CSRF token (compared in constant time)."""
        return given is not None and hmac.compare_digest(given.encode(), self.csrf_token.encode())


class SessionStore:
    """Opens, finds and closes console sessions."""

    def __init__(self, engine: sa.Engine, *, lifetime: dt.timedelta, now: Clock = system_clock) -> None:
        if lifetime <= dt.timedelta(0):
            msg = f"a session lifetime must be positive, got {lifetime}"
            raise ValueError(msg)
        self.engine = engine
        self.lifetime = lifetime
        self.now = now

    def open(self, agent_id: str) -> ConsoleSession:
        """A new session for the agent (expired sessions of every agent are purged on the way)."""
        now = self.now()
        token = secrets.token_urlsafe(32)
        session = ConsoleSession(
            agent_id=agent_id,
            token_hash=token_hash(token),
            csrf_token=secrets.token_urlsafe(24),
            created_at=now,
            expires_at=now + self.lifetime,
            token=token,
        )
        with self.engine.begin() as conn:
            conn.execute(sa.delete(sessions_table).where(sessions_table.c.expires_at <= now))
            conn.execute(
                sa.insert(sessions_table).values(
                    token_hash=session.token_hash,
                    agent_id=agent_id,
                    csrf_token=session.csrf_token,
                    created_at=now,
                    expires_at=session.expires_at,
                    last_seen_at=now,
                )
            )
        return session

    def find(self, token: str | None) -> ConsoleSession | None:
        """The live session of this cookie token: not expired, its account enabled; None otherwise."""
        if not token or len(token) > 256:
            return None
        now = self.now()
        s, a = sessions_table.c, accounts_table.c
        digest = token_hash(token)
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(sessions_table, a.disabled_at)
                .join(accounts_table, a.agent_id == s.agent_id)
                .where(s.token_hash == digest)
            ).first()
        if row is None or row.disabled_at is not None or utc(row.expires_at) <= now:
            return None
        if now - utc(row.last_seen_at) >= TOUCH_EVERY:
            with self.engine.begin() as conn:
                conn.execute(sa.update(sessions_table).where(s.token_hash == digest).values(last_seen_at=now))
        return _session(row)

    def still_open(self, session: ConsoleSession) -> bool:
        """Whether the session was not closed, expired or disabled since it was found."""
        s, a = sessions_table.c, accounts_table.c
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(s.expires_at, a.disabled_at)
                .join(accounts_table, a.agent_id == s.agent_id)
                .where(s.token_hash == session.token_hash)
            ).first()
        return row is not None and row.disabled_at is None and utc(row.expires_at) > self.now()

    def close(self, session: ConsoleSession) -> None:
        """Sign out: the session ends on every worker."""
        with self.engine.begin() as conn:
            conn.execute(sa.delete(sessions_table).where(sessions_table.c.token_hash == session.token_hash))

    def close_all(self, agent_id: str) -> int:
        """End every session of the agent; how many there were."""
        with self.engine.begin() as conn:
            result = conn.execute(sa.delete(sessions_table).where(sessions_table.c.agent_id == agent_id))
        return int(result.rowcount or 0)


def _session(row: sa.Row[Any]) -> ConsoleSession:
    return ConsoleSession(
        agent_id=str(row.agent_id),
        token_hash=str(row.token_hash),
        csrf_token=str(row.csrf_token),
        created_at=utc(row.created_at),
        expires_at=utc(row.expires_at),
    )
