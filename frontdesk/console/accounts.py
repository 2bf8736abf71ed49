"""Console accounts: an argon2id password for a routing agent, disabling, and the growing delays after failed
sign-ins (kept in the database, so they hold across workers).

Passwords are hashed with argon2-cffi's `PasswordHasher` (argon2id, its default parameters); a hash made
with older parameters is replaced at the next successful sign-in. A sign-in with an unknown login still
runs one verification, so its timing does not tell which logins exist.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from conversations.intake import utc
from frontdesk.console.errors import (
    ConsoleConflictError,
    ConsoleNotFoundError,
    InvalidInputError,
    TooManyAttemptsError,
)
from frontdesk.console.tables import accounts_table, sessions_table, sign_in_delays_table

MIN_PASSWORD = 10
MAX_PASSWORD = 1024

Clock = Callable[[], dt.datetime]


def system_clock() -> dt.datetime:
    """The current time, aware, in UTC."""
    return dt.datetime.now(dt.UTC)


def check_password_rules(password: str) -> None:
    """Raise `InvalidInputError` unless the password is 10 to 1024 characters and not only spaces."""
    if len(password) < MIN_PASSWORD or not password.strip():
        msg = f"a console password needs at least {MIN_PASSWORD} characters, got {len(password)}"
        raise InvalidInputError(msg)
    if len(password) > MAX_PASSWORD:
        msg = f"a console password has at most {MAX_PASSWORD} characters, got {len(password)}"
        raise InvalidInputError(msg)


@dataclass(frozen=True, slots=True)
class Account:
    """A routing agent's console account (never carries the hash out)."""

    agent_id: str
    disabled: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class AccountStore:
    """Creates accounts, sets and checks passwords, disables and enables accounts."""

    def __init__(self, engine: sa.Engine, *, hasher: PasswordHasher | None = None, now: Clock = system_clock) -> None:
        self.engine = engine
        self.hasher = hasher or PasswordHasher()
        self.now = now
        self._dummy_hash = self.hasher.hash("frontdesk: no such account")

    def get(self, agent_id: str) -> Account | None:
        """The account of this agent, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(accounts_table).where(accounts_table.c.agent_id == agent_id)).first()
        return _account(row) if row is not None else None

    def all(self) -> list[Account]:
        """Every account, by agent id."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(accounts_table).order_by(accounts_table.c.agent_id))
            return [_account(row) for row in rows]

    def count(self) -> int:
        """How many accounts exist (disabled ones included)."""
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(accounts_table)).scalar_one())

    def create(self, agent_id: str, password: str) -> Account:
        """A new account; `ConsoleConflictError` when the agent has one already."""
        check_password_rules(password)
        digest = self.hasher.hash(password)
        now = self.now()
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    sa.insert(accounts_table).values(
                        agent_id=agent_id, password_hash=digest, disabled_at=None, created_at=now, updated_at=now
                    )
                )
        except sa.exc.IntegrityError as exc:
            msg = f"agent {agent_id!r} has a console account already; set a new password instead"
            raise ConsoleConflictError(msg) from exc
        return Account(agent_id, False, now, now)

    def set_password(self, agent_id: str, password: str, *, create: bool = False) -> Account:
        """Replace the password (signing the agent out everywhere); with `create`, make the account when
        missing, else `ConsoleNotFoundError`."""
        check_password_rules(password)
        digest = self.hasher.hash(password)
        now = self.now()
        with self.engine.begin() as conn:
            updated = conn.execute(
                sa.update(accounts_table)
                .where(accounts_table.c.agent_id == agent_id)
                .values(password_hash=digest, updated_at=now)
            ).rowcount
            if updated == 0 and not create:
                msg = f"agent {agent_id!r} has no console account"
                raise ConsoleNotFoundError(msg)
            if updated == 0:
                conn.execute(
                    sa.insert(accounts_table).values(
                        agent_id=agent_id, password_hash=digest, disabled_at=None, created_at=now, updated_at=now
                    )
                )
            conn.execute(sa.delete(sessions_table).where(sessions_table.c.agent_id == agent_id))
        found = self.get(agent_id)
        assert found is not None
        return found

    def set_disabled(self, agent_id: str, disabled: bool) -> Account:
        """Disable (signing the agent out everywhere) or enable an account."""
        now = self.now()
        with self.engine.begin() as conn:
            updated = conn.execute(
                sa.update(accounts_table)
                .where(accounts_table.c.agent_id == agent_id)
                .values(disabled_at=now if disabled else None, updated_at=now)
            ).rowcount
            if updated == 0:
                msg = f"agent {agent_id!r} has no console account"
                raise ConsoleNotFoundError(msg)
            if disabled:
                conn.execute(sa.delete(sessions_table).where(sessions_table.c.agent_id == agent_id))
        found = self.get(agent_id)
        assert found is not None
        return found

    def verify(self, agent_id: str | None, password: str) -> bool:
        """Whether `password` opens the enabled account of `agent_id` (None: an unknown login, which is
        checked against a dummy hash and fails)."""
        row = None
        if agent_id is not None:
            with self.engine.connect() as conn:
                row = conn.execute(sa.select(accounts_table).where(accounts_table.c.agent_id == agent_id)).first()
        digest = row.password_hash if row is not None else self._dummy_hash
        try:
            self.hasher.verify(digest, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        if row is None or row.disabled_at is not None:
            return False
        if self.hasher.check_needs_rehash(digest):
            with self.engine.begin() as conn:
                conn.execute(
                    sa.update(accounts_table)
                    .where(accounts_table.c.agent_id == agent_id)
                    .values(password_hash=self.hasher.hash(password))
                )
        return True


class SignInLimiter:
    """Slows down guessing without locking anyone out: after `per_account` failures of one account (or
    `per_address` from one address) each next attempt must wait 1, 2, 4, ... seconds (at most `max_delay`)
    after the previous one before it is checked at all. The right password after the wait signs in.

    Every attempt is counted when it starts, in one transaction over the rows of its keys, so that guesses
    sent in parallel (to one worker or many) get no more tries than the delays allow; a sign-in that
    succeeds takes its count back. Keys quiet for `window` are forgotten.
    """

    def __init__(
        self,
        engine: sa.Engine,
        *,
        per_account: int = 3,
        per_address: int = 20,
        max_delay: int = 60,
        window: dt.timedelta = dt.timedelta(minutes=15),
        now: Clock = system_clock,
    ) -> None:
        if per_account < 1 or per_address < 1 or max_delay < 1:
            msg = (
                f"sign-in limits must be at least 1, got per_account={per_account}, per_address={per_address}, "
                f"max_delay={max_delay}"
            )
            raise ValueError(msg)
        self.engine = engine
        self.per_account = per_account
        self.per_address = per_address
        self.max_delay = max_delay
        self.window = window
        self.now = now

    @staticmethod
    def keys(login: str, address: str | None) -> tuple[str, ...]:
        """The keys one sign-in counts against: the login (an agent id, or what was typed, lowercased) and the
        client's address."""
        keys = [f"login:{login.strip().lower()[:180]}"]
        if address:
            keys.append(f"address:{address[:180]}")
        return tuple(keys)

    def delay(self, key: str, failures: int) -> int:
        """Seconds the next attempt of `key` waits after `failures` failures."""
        free = self.per_address if key.startswith("address:") else self.per_account
        if failures < free:
            return 0
        return int(min(2 ** min(failures - free, 30), self.max_delay))

    def attempt(self, keys: Sequence[str]) -> None:
        """Count an attempt against every key, or raise `TooManyAttemptsError` (counting nothing) when one of
        them must still wait; the password may be checked only after this returns."""
        now = self.now()
        t = sign_in_delays_table
        refused: list[tuple[str, int]] = []
        try:
            with self.engine.begin() as conn:
                for key in keys:
                    conn.execute(_insert_missing(conn, key, now))
                conn.execute(
                    sa.update(t)
                    .where(t.c.key.in_(list(keys)), t.c.updated_at <= now - self.window)
                    .values(failures=0, next_at=now)
                )
                for key in keys:
                    counted = conn.execute(
                        sa.update(t)
                        .where(t.c.key == key, t.c.next_at <= now)
                        .values(failures=t.c.failures + 1, updated_at=now, next_at=now + self.window)
                        .returning(t.c.failures)
                    ).first()
                    if counted is None:
                        next_at = conn.execute(sa.select(t.c.next_at).where(t.c.key == key)).scalar_one()
                        refused.append((key, max(1, math.ceil((utc(next_at) - now).total_seconds()))))
                        continue
                    pause = dt.timedelta(seconds=self.delay(key, int(counted.failures)))
                    conn.execute(sa.update(t).where(t.c.key == key).values(next_at=now + pause))
                if refused:
                    raise _Refused
        except _Refused:
            key, wait = max(refused, key=lambda item: item[1])
            what = "this address" if key.startswith("address:") else "this account"
            msg = f"too many failed sign-ins for {what}: wait {wait} s before the next attempt"
            raise TooManyAttemptsError(msg, retry_after=wait) from None

    def succeeded(self, keys: Sequence[str]) -> None:
        """The attempt signed in: forget the account's failures, take the attempt back from the address's (and
        forget keys quiet for longer than the window)."""
        now = self.now()
        t = sign_in_delays_table
        logins = [k for k in keys if not k.startswith("address:")]
        addresses = [k for k in keys if k.startswith("address:")]
        with self.engine.begin() as conn:
            conn.execute(sa.delete(t).where(t.c.key.in_(logins) | (t.c.updated_at <= now - self.window)))
            if addresses:
                conn.execute(
                    sa.update(t).where(t.c.key.in_(addresses), t.c.failures > 0).values(failures=t.c.failures - 1)
                )

    def failures(self, key: str) -> int:
        """How many failures (attempts not taken back) `key` has now."""
        t = sign_in_delays_table
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.c.failures, t.c.updated_at).where(t.c.key == key)).first()
        if row is None or utc(row.updated_at) <= self.now() - self.window:
            return 0
        return int(row.failures)


class _Refused(Exception):
    """Rolls back an attempt that one of its keys refused."""


def _insert_missing(conn: sa.Connection, key: str, now: dt.datetime) -> sa.Executable:
    """An INSERT of a fresh row for `key` that does nothing when the row exists (SQLite and PostgreSQL)."""
    values = {"key": key, "failures": 0, "next_at": now, "updated_at": now}
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(sign_in_delays_table).values(**values).on_conflict_do_nothing(index_elements=["key"])
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(sign_in_delays_table).values(**values).on_conflict_do_nothing(index_elements=["key"])


def _account(row: sa.Row[Any]) -> Account:
    return Account(
        agent_id=str(row.agent_id),
        disabled=row.disabled_at is not None,
        created_at=utc(row.created_at),
        updated_at=utc(row.updated_at),
    )
