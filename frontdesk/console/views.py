"""The JSON shapes the console API and its live feed send: tickets, offers, queues, agents, events,
messages and notes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from conversations.intake import utc
from conversations.sender_trust import SenderTrust, conversation_trust, message_trust
from conversations.store import StoredMessage
from frontdesk.console.notes import Note
from routing import HumanAgent, Offer, QueueSnapshot, RoutingEvent, Ticket
from routing.models import AgentLoad

JSON = dict[str, Any]


def when(value: dt.datetime | None) -> str | None:
    """An ISO 8601 UTC timestamp, or None."""
    return utc(value).isoformat() if value is not None else None


def ticket_json(ticket: Ticket, now: dt.datetime) -> JSON:
    """A ticket with its SLA state at `now` (negative `sla_remaining_seconds`: overdue)."""
    return {
        "id": ticket.id,
        "conversation_id": ticket.conversation_id,
        "channel": ticket.channel,
        "channel_kind": ticket.channel_kind.value,
        "skill": ticket.skill,
        "language": ticket.language,
        "priority": ticket.priority,
        "reason": ticket.reason,
        "summary": ticket.summary,
        "team": ticket.team,
        "target_agent": ticket.target_agent,
        "target_team": ticket.target_team,
        "state": ticket.state.value,
        "agent_id": ticket.agent_id,
        "scope": ticket.scope.value,
        "sla_due_at": when(ticket.sla_due_at),
        "sla_remaining_seconds": round((ticket.sla_due_at - now).total_seconds(), 1),
        "sla_breached": ticket.sla_breached,
        "created_at": when(ticket.created_at),
        "assigned_at": when(ticket.assigned_at),
        "resolved_at": when(ticket.resolved_at),
        "resolution": ticket.resolution,
    }


def offer_json(offer: Offer, ticket: Ticket, now: dt.datetime) -> JSON:
    """An open offer with the ticket it offers and the seconds left to answer it."""
    return {
        "id": offer.id,
        "state": offer.state.value,
        "created_at": when(offer.created_at),
        "expires_at": when(offer.expires_at),
        "expires_in_seconds": round(max(0.0, (offer.expires_at - now).total_seconds()), 1),
        "ticket": ticket_json(ticket, now),
    }


def agent_json(agent: HumanAgent) -> JSON:
    """An agent's profile and status."""
    return {
        "id": agent.id,
        "name": agent.name,
        "email": agent.email,
        "role": agent.role.value,
        "team": agent.team,
        "skills": dict(agent.skills),
        "languages": list(agent.languages),
        "capacity": {kind.value: value for kind, value in agent.capacity.items()},
        "status": agent.status.value,
    }


def load_json(load: AgentLoad) -> JSON:
    """An agent with what they are offered and hold, per channel kind, against their capacity."""
    return {
        **agent_json(load.agent),
        "offered": {kind.value: count for kind, count in load.offered.items()},
        "assigned": {kind.value: count for kind, count in load.assigned.items()},
        "idle_since": when(load.idle_since),
    }


def snapshot_json(snapshot: QueueSnapshot) -> JSON:
    """Every queue with its waiting tickets and SLA state, and every agent's load."""
    return {
        "at": when(snapshot.at),
        "queues": [
            {
                "team": queue.team,
                "breached": queue.breached,
                "longest_wait_seconds": round(queue.longest_wait_seconds, 1),
                "waiting": [
                    {
                        **ticket_json(item.ticket, snapshot.at),
                        "waited_seconds": round(item.waited_seconds, 1),
                    }
                    for item in queue.waiting
                ],
            }
            for queue in snapshot.queues
        ],
        "agents": [load_json(load) for load in snapshot.agents],
    }


def event_json(event: RoutingEvent) -> JSON:
    """One step of a ticket's history (or a status change)."""
    return {
        "id": event.id,
        "kind": event.kind.value,
        "at": when(event.at),
        "ticket_id": event.ticket_id,
        "conversation_id": event.conversation_id,
        "agent_id": event.agent_id,
        "from_agent": event.from_agent,
        "team": event.team,
        "offer_id": event.offer_id,
        "scope": event.scope.value if event.scope is not None else None,
        "status": event.status.value if event.status is not None else None,
        "note": event.note,
    }


def message_json(message: StoredMessage) -> JSON:
    """A conversation message as agents see it: the customer's original text beside the redacted one."""
    details = message.details
    citations = [
        {"title": str(c.get("title", "")), "url": c.get("url"), "section": c.get("section", "")}
        for c in details.get("citations", ())
        if isinstance(c, dict) and c.get("title")
    ]
    return {
        "id": message.id,
        "role": message.role,
        "text": message.text,
        "original_text": message.original_text if message.role == "customer" else None,
        "author": details.get("console_agent_id"),
        "citations": citations,
        "event": details.get("event"),
        "created_at": when(message.created_at),
        **_trust_json(message_trust(details) if message.role == "customer" else None),
    }


def _trust_json(trust: SenderTrust | None) -> JSON:
    """`sender_verified` (None when the channel says nothing) and `sender_verification` (why)."""
    return {
        "sender_verified": trust.verified if trust is not None else None,
        "sender_verification": trust.reason if trust is not None else None,
    }


def sender_json(messages: Sequence[StoredMessage]) -> JSON:
    """Whether the conversation's customer is authenticated: unverified when any of their messages is."""
    return _trust_json(conversation_trust(messages))


def note_json(note: Note) -> JSON:
    """An internal note."""
    return {"id": note.id, "agent_id": note.agent_id, "text": note.text, "created_at": when(note.created_at)}
