"""Whether a conversation's customer is who their address says, as the people who take it over see it.

A channel that can tell puts its verdict in each inbound message's metadata (`sender_verified`: "true" or
"false", and why in `sender_verification`); e-mail does (`channels.email.authentication`). The console shows
it beside the customer and on each message, and the hand-off summary starts with a warning when a message
of the conversation came from an unauthenticated sender.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from conversations.store import StoredMessage

SUMMARY_CHARS = 600


@dataclass(frozen=True, slots=True)
class SenderTrust:
    """The verdict on a message or a conversation: `verified`, and the reason the channel gave."""

    verified: bool
    reason: str | None = None


def message_trust(details: Mapping[str, Any]) -> SenderTrust | None:
    """The verdict stored with one customer message; None when its channel gave none."""
    metadata = details.get("metadata")
    if not isinstance(metadata, Mapping):
        return None
    value = metadata.get("sender_verified")
    if value not in {"true", "false"}:
        return None
    reason = metadata.get("sender_verification")
    return SenderTrust(value == "true", str(reason)[:300] if reason else None)


def conversation_trust(messages: Sequence[StoredMessage]) -> SenderTrust | None:
    """Unverified (with the latest such reason) when any customer message with a verdict is; verified when
    all are; None when none has a verdict (web chat, phone)."""
    verdicts = [found for m in messages if m.role == "customer" and (found := message_trust(m.details)) is not None]
    if not verdicts:
        return None
    unverified = [found for found in verdicts if not found.verified]
    return unverified[-1] if unverified else verdicts[-1]


def unverified_line(messages: Sequence[StoredMessage]) -> str | None:
    """The hand-off summary's warning, or None when no customer message came from an unverified sender."""
    trust = conversation_trust(messages)
    if trust is None or trust.verified:
        return None
    return f"Unverified sender: the address is not authenticated ({trust.reason or 'no reason given'})."


def with_unverified_line(summary: str, messages: Sequence[StoredMessage]) -> str:
    """`summary` led by the unverified-sender warning when there is one (first, so a cut never drops it)."""
    line = unverified_line(messages)
    if line is None or summary.startswith(line):
        return summary
    return f"{line}\n{summary}"[:SUMMARY_CHARS]
