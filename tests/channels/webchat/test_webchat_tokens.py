"""Visitor tokens: issued by the server, bound to one visitor and one conversation, unforgeable, expiring."""

from __future__ import annotations

import base64
import datetime as dt
import stat
from pathlib import Path

import pytest

from channels.webchat.tokens import TokenError, VisitorTokens, load_or_create_secret, new_visitor_id

SECRET = b"0123456789abcdef0123456789abcdef"


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


def test_a_token_opens_its_own_conversation() -> None:
    tokens = VisitorTokens(SECRET)
    visitor = new_visitor_id()
    session = tokens.verify(tokens.issue(visitor, "webchat-abc"))
    assert (session.visitor_id, session.conversation_id) == (visitor, "webchat-abc")
    assert new_visitor_id() != visitor


def test_a_token_altered_to_open_another_conversation_is_refused() -> None:
    tokens = VisitorTokens(SECRET)
    token = tokens.issue("visitor-b", "webchat-b")
    version, payload, signature = token.split(".")
    forged_payload = base64.urlsafe_b64decode(payload + "==").replace(b"webchat-b", b"webchat-a")
    forged = ".".join([version, base64.urlsafe_b64encode(forged_payload).rstrip(b"=").decode(), signature])
    with pytest.raises(TokenError, match="signature does not match"):
        tokens.verify(forged)


def test_a_token_signed_with_another_secret_is_refused() -> None:
    token = VisitorTokens(b"x" * 32).issue("visitor-a", "webchat-a")
    with pytest.raises(TokenError, match="signature"):
        VisitorTokens(SECRET).verify(token)


def test_tokens_expire() -> None:
    clock = Clock()
    tokens = VisitorTokens(SECRET, max_age=dt.timedelta(days=30), clock=clock)
    token = tokens.issue("visitor-a", "webchat-a")
    clock.now += dt.timedelta(days=29)
    assert tokens.verify(token).issued_at == dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
    clock.now += dt.timedelta(days=2)
    with pytest.raises(TokenError, match="expired"):
        tokens.verify(token)


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (None, "no visitor token"),
        ("", "no visitor token"),
        ("garbage", "malformed"),
        ("v2.abc.def", "malformed"),
        ("v1.abc", "malformed"),
        ("v1.a*b.c", "base64url|signature"),
        ("v1." + "a" * 2000 + ".b", "too long"),
    ],
)
def test_malformed_tokens_say_why(token: str | None, reason: str) -> None:
    with pytest.raises(TokenError, match=reason):
        VisitorTokens(SECRET).verify(token)


def test_constructor_and_issue_validate_their_arguments() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        VisitorTokens(b"short")
    with pytest.raises(ValueError, match="max_age must be positive"):
        VisitorTokens(SECRET, max_age=dt.timedelta(0))
    with pytest.raises(ValueError, match="conversation id"):
        VisitorTokens(SECRET).issue("visitor-a", "bad|id")


def test_a_generated_secret_is_kept_private_and_survives_restarts(tmp_path: Path) -> None:
    path = tmp_path / "data" / "webchat_secret"
    first = load_or_create_secret(path)
    assert len(first) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret(path) == first, "the same secret after a restart"
    token = VisitorTokens(first).issue("visitor-a", "webchat-a")
    assert VisitorTokens(load_or_create_secret(path)).verify(token).conversation_id == "webchat-a"


def test_a_short_secret_in_the_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "webchat_secret"
    path.write_text("too-short\n")
    with pytest.raises(ValueError, match="too short"):
        load_or_create_secret(path)
