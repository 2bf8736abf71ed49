"""API keys: created once and shown once, stored hashed, scoped, revocable; the `frontdesk keys` commands."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from frontdesk import db
from frontdesk.api_keys import ApiKeyError, ApiKeyStore, Scope, api_keys_table, parse_scopes

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path: Path) -> ApiKeyStore:
    engine = db.create_engine(f"sqlite:///{tmp_path / 'keys.db'}")
    db.upgrade(engine)
    return ApiKeyStore(engine)


def test_a_key_is_stored_as_a_hash_and_verifies_with_its_scopes(store: ApiKeyStore) -> None:
    record, key = store.create("crm", ["conversations:read", "conversations:write"])
    assert key.startswith(f"fdk_{record.id}_") and len(key) >= 50
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(api_keys_table)).one()
    assert key not in json.dumps([str(v) for v in row]) and row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    principal = store.verify(key)
    assert principal is not None and principal.name == "crm"
    assert principal.may(Scope.CONVERSATIONS_READ) and not principal.may(Scope.KNOWLEDGE_WRITE)


def test_wrong_malformed_and_revoked_keys_are_refused(store: ApiKeyStore) -> None:
    record, key = store.create("crm", ["analytics:read"])
    assert store.verify(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert store.verify("fdk_nope") is None and store.verify("") is None and store.verify("x" * 10_000) is None
    assert store.verify(f"fdk_{record.id}_" + "y" * 43) is None
    store.revoke(record.id)
    assert store.verify(key) is None
    assert [k.id for k in store.list()] == [] and store.list(include_revoked=True)[0].revoked_at is not None


def test_revoke_by_name_only_when_unambiguous(store: ApiKeyStore) -> None:
    store.create("twin", ["analytics:read"])
    store.create("twin", ["analytics:read"])
    with pytest.raises(ApiKeyError, match="2 active keys are named 'twin'"):
        store.revoke("twin")
    with pytest.raises(ApiKeyError, match="no active key"):
        store.revoke("nobody")


def test_bad_scopes_and_names_are_refused_with_the_reason(store: ApiKeyStore) -> None:
    with pytest.raises(ApiKeyError, match="unknown scope 'root'"):
        store.create("crm", ["root"])
    with pytest.raises(ApiKeyError, match="at least one scope"):
        store.create("crm", [])
    with pytest.raises(ApiKeyError, match="1 to 64 printable"):
        store.create("", ["analytics:read"])
    assert parse_scopes(["knowledge:write, email:inbound"]) == {Scope.KNOWLEDGE_WRITE, Scope.EMAIL_INBOUND}


def test_last_use_is_recorded_at_most_every_few_minutes(tmp_path: Path) -> None:
    engine = db.create_engine(f"sqlite:///{tmp_path / 'keys.db'}")
    db.upgrade(engine)
    clock = [dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)]
    store = ApiKeyStore(engine, now=lambda: clock[0])
    record, key = store.create("crm", ["analytics:read"])
    store.verify(key)
    first = store.list()[0].last_used_at
    clock[0] += dt.timedelta(minutes=1)
    store.verify(key)
    assert store.list()[0].last_used_at == first
    clock[0] += dt.timedelta(minutes=10)
    store.verify(key)
    assert store.list()[0].last_used_at == clock[0]


def _cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    env.update({"FRONTDESK_DATA_DIR": str(data), "PYTHONPATH": str(REPO)})
    return subprocess.run(
        [sys.executable, "-m", "frontdesk.cli", "keys", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_the_keys_commands_create_list_and_revoke(tmp_path: Path) -> None:
    created = _cli(tmp_path, "create", "--name", "crm", "--scope", "conversations:write", "--json")
    assert created.returncode == 0, created.stderr
    made = json.loads(created.stdout)
    assert made["scopes"] == ["conversations:write"] and made["key"].startswith("fdk_")
    listed = _cli(tmp_path, "list")
    assert made["id"] in listed.stdout and made["key"] not in listed.stdout
    bad = _cli(tmp_path, "create", "--name", "crm", "--scope", "everything")
    assert bad.returncode == 2 and "unknown scope 'everything'" in bad.stderr
    assert _cli(tmp_path, "revoke", made["id"]).returncode == 0
    assert "No API keys" in _cli(tmp_path, "list").stdout
    missing = _cli(tmp_path, "revoke", made["id"])
    assert missing.returncode == 2 and "no active key" in missing.stderr
