"""API keys for integrations: named, scoped, stored hashed, revocable.

A key reads `fdk_<id>_<secret>`: the id (public, 10 characters) finds the row, the secret (43 characters of
`secrets.token_urlsafe(32)`, 256 bits) proves it. The database keeps only the SHA-256 of the whole key, so a
leaked table opens nothing; a fast hash is enough because the secret is random, not a password. The key is
shown once, when it is created (`frontdesk keys create`). `FRONTDESK_ADMIN_TOKEN` is the bootstrap key: it
holds every scope and lives in the settings, not in this table.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from conversations.store import metadata

PREFIX = "fdk_"
# How often a key's last use is written back (a busy integration must not write on every request).
LAST_USED_RESOLUTION = dt.timedelta(minutes=5)


class Scope(StrEnum):
    """What a key may do. A route names the one scope it needs."""

    KNOWLEDGE_READ = "knowledge:read"
    KNOWLEDGE_WRITE = "knowledge:write"
    CONVERSATIONS_READ = "conversations:read"
    CONVERSATIONS_WRITE = "conversations:write"
    EMAIL_INBOUND = "email:inbound"
    ANALYTICS_READ = "analytics:read"


ALL_SCOPES = frozenset(Scope)

api_keys_table = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(16), primary_key=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False),
    sa.Column("scopes", sa.String(512), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
)


class ApiKeyError(ValueError):
    """A key operation with a bad argument (unknown scope, bad name, no such key)."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key, without its secret."""

    id: str
    name: str
    scopes: frozenset[Scope]
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who calls: a key (by id and name) or the bootstrap admin token, with its scopes."""

    id: str
    name: str
    scopes: frozenset[Scope]

    def may(self, scope: Scope) -> bool:
        return scope in self.scopes


ADMIN = Principal(id="admin-token", name="FRONTDESK_ADMIN_TOKEN", scopes=ALL_SCOPES)


def parse_scopes(values: Iterable[str]) -> frozenset[Scope]:
    """Scopes from their names ("conversations:read"); `ApiKeyError` names an unknown one."""
    chosen: set[Scope] = set()
    for value in values:
        for name in value.replace(",", " ").split():
            try:
                chosen.add(Scope(name.strip().lower()))
            except ValueError:
                known = ", ".join(sorted(s.value for s in Scope))
                msg = f"unknown scope {name!r}; choose from {known}"
                raise ApiKeyError(msg) from None
    if not chosen:
        msg = "a key needs at least one scope (--scope NAME)"
        raise ApiKeyError(msg)
    return frozenset(chosen)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _key(row: Any) -> ApiKey:
    scopes = frozenset(Scope(s) for s in row.scopes.split() if s in {x.value for x in Scope})
    created = _utc(row.created_at)
    assert created is not None
    return ApiKey(row.id, row.name, scopes, created, _utc(row.last_used_at), _utc(row.revoked_at))


def split_key(key: str) -> tuple[str, str] | None:
    """The (id, secret) of a well-formed key, else None."""
    if not key.startswith(PREFIX) or len(key) > 128:
        return None
    key_id, sep, secret = key[len(PREFIX) :].partition("_")
    if not sep or len(key_id) != 10 or not key_id.isalnum() or len(secret) < 32:
        return None
    return key_id, secret


class ApiKeyStore:
    """Creates, lists, revokes and verifies API keys (the only writer of `api_keys`)."""

    def __init__(self, engine: sa.Engine, *, now: Callable[[], dt.datetime] | None = None) -> None:
        self.engine = engine
        self._now = now or (lambda: dt.datetime.now(dt.UTC))

    def create(self, name: str, scopes: Iterable[str | Scope]) -> tuple[ApiKey, str]:
        """A new key: its record and the key itself (shown once, never stored)."""
        name = name.strip()
        if not name or len(name) > 64 or not name.isprintable():
            msg = f"a key's name must be 1 to 64 printable characters; got {name!r}"
            raise ApiKeyError(msg)
        chosen = parse_scopes(str(s) for s in scopes)
        key_id = secrets.token_hex(5)
        key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        now = self._now()
        with self.engine.begin() as conn:
            conn.execute(
                sa.insert(api_keys_table).values(
                    id=key_id,
                    name=name,
                    key_hash=_hash(key),
                    scopes=" ".join(sorted(s.value for s in chosen)),
                    created_at=now,
                )
            )
        return ApiKey(key_id, name, chosen, now, None, None), key

    def list(self, *, include_revoked: bool = False) -> list[ApiKey]:
        """Every key, oldest first (revoked ones only when asked)."""
        query = sa.select(api_keys_table).order_by(api_keys_table.c.created_at, api_keys_table.c.id)
        if not include_revoked:
            query = query.where(api_keys_table.c.revoked_at.is_(None))
        with self.engine.connect() as conn:
            return [_key(row) for row in conn.execute(query)]

    def revoke(self, id_or_name: str) -> ApiKey:
        """Revoke the key with this id (or, when the name is unique among active keys, this name)."""
        t = api_keys_table
        with self.engine.begin() as conn:
            rows = conn.execute(sa.select(t).where(t.c.id == id_or_name, t.c.revoked_at.is_(None))).all()
            if not rows:
                rows = conn.execute(sa.select(t).where(t.c.name == id_or_name, t.c.revoked_at.is_(None))).all()
            if not rows:
                msg = f"no active key with id or name {id_or_name!r} (frontdesk keys list shows them)"
                raise ApiKeyError(msg)
            if len(rows) > 1:
                ids = ", ".join(r.id for r in rows)
                msg = f"{len(rows)} active keys are named {id_or_name!r} ({ids}): revoke one by its id"
                raise ApiKeyError(msg)
            now = self._now()
            conn.execute(sa.update(t).where(t.c.id == rows[0].id).values(revoked_at=now))
        revoked = _key(rows[0])
        return ApiKey(revoked.id, revoked.name, revoked.scopes, revoked.created_at, revoked.last_used_at, now)

    def verify(self, key: str) -> Principal | None:
        """The principal of an active key, or None for a malformed, unknown, wrong or revoked one."""
        parts = split_key(key)
        if parts is None:
            return None
        t = api_keys_table
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.id == parts[0])).first()
        if row is None or row.revoked_at is not None or not hmac.compare_digest(row.key_hash, _hash(key)):
            return None
        found = _key(row)
        now = self._now()
        if found.last_used_at is None or now - found.last_used_at >= LAST_USED_RESOLUTION:
            with self.engine.begin() as conn:
                conn.execute(sa.update(t).where(t.c.id == found.id).values(last_used_at=now))
        return Principal(id=found.id, name=found.name, scopes=found.scopes)

    def any_active(self) -> bool:
        with self.engine.connect() as conn:
            return (
                conn.execute(
                    sa.select(api_keys_table.c.id).where(api_keys_table.c.revoked_at.is_(None)).limit(1)
                ).first()
                is not None
            )
