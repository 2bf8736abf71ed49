"""Visitor tokens: the web chat's only credential.

The server creates a visitor and a conversation and hands the widget a token that binds the two, signed with
HMAC-SHA256 under a server secret. The widget keeps it (localStorage) so that a reload resumes the same
conversation; a visitor holds no token for anybody else's conversation and cannot make one. A token carries
the time it was issued and is refused after `max_age`.

Format: `v1.<payload>.<signature>`, both base64url without padding; the payload is
`<visitor id>|<conversation id>|<issued at, unix seconds>`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from channels.base import ChannelError
from channels.messages import utc_now

TOKEN_VERSION = "v1"
MIN_SECRET_BYTES = 32
MAX_TOKEN_LENGTH = 1024
_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_DOMAIN = b"frontdesk/webchat/visitor-token/v1|"


class TokenError(ChannelError):
    """A visitor token that is missing, malformed, forged or expired (answered with 401)."""


@dataclass(frozen=True, slots=True)
class VisitorSession:
    """Who a valid token speaks for: one visitor in one conversation."""

    visitor_id: str
    conversation_id: str
    issued_at: dt.datetime


def new_visitor_id() -> str:
    """A fresh, unguessable visitor id."""
    return f"visitor-{secrets.token_hex(12)}"


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class VisitorTokens:
    """Issues and verifies visitor tokens under one secret (at least 32 bytes)."""

    def __init__(
        self,
        secret: bytes,
        *,
        max_age: dt.timedelta = dt.timedelta(days=30),
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            msg = f"the web chat secret must have at least {MIN_SECRET_BYTES} bytes, got {len(secret)}"
            raise ValueError(msg)
        if max_age <= dt.timedelta(0):
            msg = f"the visitor token max_age must be positive, got {max_age}"
            raise ValueError(msg)
        self._secret = secret
        self.max_age = max_age
        self._clock = clock

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, _DOMAIN + payload, hashlib.sha256).digest()

    def issue(self, visitor_id: str, conversation_id: str) -> str:
        """A token that lets `visitor_id` read and write `conversation_id`."""
        for label, value in (("visitor id", visitor_id), ("conversation id", conversation_id)):
            if not _ID.match(value):
                msg = f"a {label} must be 1 to 128 letters, digits, '-' or '_', got {value!r}"
                raise ValueError(msg)
        issued = int(self._clock().timestamp())
        payload = f"{visitor_id}|{conversation_id}|{issued}".encode()
        return f"{TOKEN_VERSION}.{_b64encode(payload)}.{_b64encode(self._sign(payload))}"

    def verify(self, token: str | None) -> VisitorSession:
        """The session a token speaks for; `TokenError` saying why when it is not valid."""
        if not token:
            msg = "no visitor token: create a session with POST /v1/webchat/sessions first"
            raise TokenError(msg)
        if len(token) > MAX_TOKEN_LENGTH:
            msg = f"the visitor token is too long ({len(token)} characters)"
            raise TokenError(msg)
        version, _, rest = token.partition(".")
        encoded_payload, _, encoded_signature = rest.partition(".")
        if version != TOKEN_VERSION or not encoded_payload or not encoded_signature:
            msg = f"the visitor token is malformed (expected '{TOKEN_VERSION}.<payload>.<signature>')"
            raise TokenError(msg)
        try:
            payload, signature = _b64decode(encoded_payload), _b64decode(encoded_signature)
        except ValueError as exc:
            msg = "the visitor token is not valid base64url"
            raise TokenError(msg) from exc
        if not hmac.compare_digest(signature, self._sign(payload)):
            msg = "the visitor token's signature does not match: it was altered or signed with another secret"
            raise TokenError(msg)
        try:
            visitor_id, conversation_id, issued_text = payload.decode().split("|")
            issued_at = dt.datetime.fromtimestamp(int(issued_text), dt.UTC)
        except ValueError as exc:  # only a token we signed gets here: a bug, or a secret shared with others
            msg = "the visitor token's payload is malformed"
            raise TokenError(msg) from exc
        age = self._clock() - issued_at
        if age > self.max_age:
            msg = f"the visitor token expired ({age.days} days old; tokens last {self.max_age.days} days)"
            raise TokenError(msg)
        return VisitorSession(visitor_id, conversation_id, issued_at)


def load_or_create_secret(path: Path) -> bytes:
    """The secret stored in `path`, created (random, owner-readable only) when the file does not exist yet,
    so that tokens survive restarts without any configuration."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        text = ""
    if text:
        secret = text.encode("ascii")
        if len(secret) < MIN_SECRET_BYTES:
            msg = f"the web chat secret in {path} is too short ({len(secret)} bytes, at least {MIN_SECRET_BYTES})"
            raise ValueError(msg)
        return secret
    path.parent.mkdir(parents=True, exist_ok=True)
    generated = secrets.token_urlsafe(48)
    # Created exclusively with mode 0600; a process that lost the race reads the winner's secret.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_text(encoding="ascii").strip().encode("ascii")
        if len(secret) < MIN_SECRET_BYTES:
            msg = f"{path} holds no usable web chat secret: delete it, or write one of {MIN_SECRET_BYTES}+ bytes"
            raise ValueError(msg) from None
        return secret
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(generated + "\n")
    return generated.encode("ascii")
