"""What the console shows about a conversation besides its messages: the detected intent and skill, the
customer's sentiment, why it was escalated, and a short summary when routing holds none."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent.sentiment import analyze_sentiment
from conversations.sender_trust import with_unverified_line
from conversations.store import Conversation, StoredMessage
from knowledge.documents import Turn
from routing import Ticket

SUMMARY_CHARS = 600


def analysis(conversation: Conversation, messages: Sequence[StoredMessage], ticket: Ticket | None) -> dict[str, Any]:
    """Intent, skill, sentiment and escalation as the assistant recorded them with its last reply that handed
    over (or its last reply); sentiment is computed from the customer's latest message when the assistant
    never replied (`source` says which)."""
    replies = [m for m in messages if m.role == "agent" and m.details]
    handing = [m for m in replies if m.details.get("escalation")]
    chosen = handing[-1] if handing else replies[-1] if replies else None
    intent = chosen.details.get("intent") if chosen is not None else None
    sentiment = chosen.details.get("sentiment") if chosen is not None else None
    escalation = chosen.details.get("escalation") if chosen is not None else None
    source = "assistant"
    if not sentiment:
        customer = [m for m in messages if m.role == "customer"]
        if customer:
            turns = tuple(Turn(role="customer", text=m.text) for m in customer[:-1])
            found = analyze_sentiment(customer[-1].text, turns)
            sentiment = {
                "label": found.label.value,
                "score": found.score,
                "frustration": found.frustration,
                "signals": list(found.signals),
            }
            source = "computed"
    reason = conversation.escalation_reason or (ticket.reason if ticket is not None else None)
    if escalation:
        reason = reason or escalation.get("reason")
    skill = ticket.skill if ticket is not None and ticket.skill else (intent or {}).get("skill")
    return {
        "intent": intent or None,
        "skill": skill,
        "sentiment": sentiment or None,
        "escalation": {
            "reason": reason,
            "detail": (escalation or {}).get("detail", ""),
            "priority": ticket.priority if ticket is not None else (escalation or {}).get("priority"),
        }
        if reason
        else None,
        "source": source,
    }


def summary(messages: Sequence[StoredMessage], ticket: Ticket | None, reason: str | None) -> str:
    """The ticket's summary, or (for a conversation escalated without one) what the customer asked first and
    last and why it was handed over; led by a warning when a customer message came from an unverified sender
    (also when the ticket's summary was written before that message)."""
    if ticket is not None and ticket.summary.strip():
        return with_unverified_line(ticket.summary, messages)
    asked = [m.text.strip() for m in messages if m.role == "customer" and m.text.strip()]
    if not asked:
        return ""
    parts = [f"First asked: {_clip(asked[0])}"]
    if asked[-1] != asked[0]:
        parts.append(f"Latest: {_clip(asked[-1])}")
    if reason:
        parts.append(f"Handed over: {reason}")
    return with_unverified_line("\n".join(parts)[:SUMMARY_CHARS], messages)


def _clip(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
