"""Console accounts, sessions, the sign-in rate limit and internal notes, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from conversations.store import ConversationStore
from frontdesk.console.accounts import AccountStore, SignInLimiter
from frontdesk.console.errors import (
    ConsoleConflictError,
    ConsoleNotFoundError,
    InvalidInputError,
    TooManyAttemptsError,
)
from frontdesk.console.notes import NoteStore
from frontdesk.console.sessions import SessionStore, token_hash
from frontdesk.console.tables import accounts_table, sessions_table

PASSWORD = "correct horse battery"


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def test_passwords_are_argon2id_hashes_checked_in_constant_shape(engine: sa.Engine) -> None:
    accounts = AccountStore(engine)
    accounts.create("ana", PASSWORD)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(accounts_table.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert accounts.verify("ana", PASSWORD)
    assert not accounts.verify("ana", PASSWORD + "!")
    assert not accounts.verify(None, PASSWORD), "an unknown login never passes"
    with pytest.raises(ConsoleConflictError, match="already"):
        accounts.create("ana", PASSWORD)
    with pytest.raises(InvalidInputError, match="at least 10 characters"):
        accounts.create("bo", "short")
    with pytest.raises(ConsoleNotFoundError, match="no console account"):
        accounts.set_password("bo", PASSWORD)
    accounts.set_disabled("ana", True)
    assert not accounts.verify("ana", PASSWORD), "a disabled account cannot sign in"
    accounts.set_disabled("ana", False)
    assert accounts.verify("ana", PASSWORD)
    assert [a.agent_id for a in accounts.all()] == ["ana"] and accounts.count() == 1


def test_sessions_store_only_a_hash_expire_and_end_everywhere(engine: sa.Engine) -> None:
    clock = Clock()
    accounts = AccountStore(engine, now=clock)
    accounts.create("ana", PASSWORD)
    sessions = SessionStore(engine, lifetime=dt.timedelta(hours=8), now=clock)
    opened = sessions.open("ana")
    assert opened.token is not None
    with engine.connect() as conn:
        stored = conn.execute(sa.select(sessions_table.c.token_hash)).scalars().all()
    assert stored == [token_hash(opened.token)] and opened.token not in stored
    found = sessions.find(opened.token)
    assert found is not None and found.agent_id == "ana" and found.csrf_matches(opened.csrf_token)
    assert not found.csrf_matches("nope") and not found.csrf_matches(None)
    assert sessions.find("not-a-token") is None and sessions.find(None) is None

    clock.advance(hours=8, seconds=1)
    assert sessions.find(opened.token) is None, "an expired session opens nothing"

    second = sessions.open("ana")
    assert sessions.find(second.token) is not None
    accounts.set_password("ana", "another long password")
    assert sessions.find(second.token) is None, "a new password ends every session"
    third = sessions.open("ana")
    accounts.set_disabled("ana", True)
    assert sessions.find(third.token) is None and not sessions.still_open(third)
    accounts.set_disabled("ana", False)
    fourth = sessions.open("ana")
    sessions.close(fourth)
    assert sessions.find(fourth.token) is None


def test_failed_sign_ins_wait_longer_each_time_per_account_and_per_address(engine: sa.Engine) -> None:
    clock = Clock()
    limiter = SignInLimiter(
        engine, per_account=3, per_address=100, max_delay=8, window=dt.timedelta(minutes=15), now=clock
    )
    keys = limiter.keys("Ana", "10.0.0.1")
    assert keys == ("login:ana", "address:10.0.0.1")
    for _ in range(3):
        limiter.attempt(keys)  # three free attempts, all failing
    waits = []
    for _ in range(5):
        with pytest.raises(TooManyAttemptsError, match="this account") as refused:
            limiter.attempt(keys)
        waits.append(refused.value.retry_after)
        clock.advance(seconds=refused.value.retry_after)
        limiter.attempt(keys)  # after the wait the attempt is let through (and fails again)
    assert waits == [1, 2, 4, 8, 8], "1, 2, 4 ... seconds, at most max_delay"
    assert limiter.failures("login:ana") == 8
    clock.advance(seconds=8)
    limiter.attempt(keys)
    limiter.succeeded(keys)  # the right password: no lock, and the account starts afresh
    assert limiter.failures("login:ana") == 0
    limiter.attempt(keys)

    other = SignInLimiter(engine, per_account=3, per_address=2, max_delay=60, now=clock)
    for login in ("bo", "cy"):
        other.attempt(other.keys(login, "10.0.0.9"))
    with pytest.raises(TooManyAttemptsError, match="this address") as refused:
        other.attempt(other.keys("dee", "10.0.0.9"))  # a third account from one address waits
    assert refused.value.retry_after == 1
    assert other.failures("login:dee") == 0, "a refused attempt counts against none of its keys"
    other.attempt(other.keys("dee", "10.0.0.10"))
    clock.advance(minutes=15, seconds=1)
    assert other.failures("address:10.0.0.9") == 0, "quiet keys are forgotten"
    other.attempt(other.keys("ed", "10.0.0.9"))


def test_parallel_guesses_get_no_more_tries_than_the_delays_allow(engine: sa.Engine) -> None:
    from concurrent.futures import ThreadPoolExecutor

    # The clock stands still: the guesses are concurrent (threads, one transaction each), no delay runs out.
    limiter = SignInLimiter(engine, per_account=3, per_address=1000, max_delay=60, now=Clock())
    keys = limiter.keys("ana", "10.0.0.1")

    def guess(_: int) -> bool:
        try:
            limiter.attempt(keys)
        except TooManyAttemptsError:
            return False
        return True

    with ThreadPoolExecutor(8) as pool:
        let_through = sum(pool.map(guess, range(40)))
    assert let_through == 3, "only the free attempts; every other one must wait"
    assert limiter.failures("login:ana") == 3


def test_internal_notes(engine: sa.Engine) -> None:
    store = ConversationStore(engine)
    store.get_or_create("c1", channel="api")
    notes = NoteStore(engine)
    first = notes.add("c1", "ana", "  Customer is a VIP; offer the express swap.  ")
    notes.add("c1", "bo", "Swap booked for Tuesday.")
    assert first.text == "Customer is a VIP; offer the express swap."
    assert [(n.agent_id, n.text) for n in notes.of("c1")] == [
        ("ana", "Customer is a VIP; offer the express swap."),
        ("bo", "Swap booked for Tuesday."),
    ]
    with pytest.raises(InvalidInputError, match="empty"):
        notes.add("c1", "ana", "   ")
    with pytest.raises(ConsoleNotFoundError, match="no conversation"):
        notes.add("nope", "ana", "hello")
    assert store.delete(["c1"]) == 1
    assert notes.of("c1") == [], "notes go with their conversation"
