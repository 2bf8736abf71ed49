"""What a signed-in agent may see and do: offers, their conversations, the queues (supervisors), a
conversation with its context, replies, internal notes, transfers and resolutions.

Roles come from routing. An `agent` sees their own offers and the conversations they hold (or held); a
`supervisor` also sees every queue, every agent's load and SLA state and may open, answer, transfer and
resolve any conversation; an `admin` may do all that and manage agents (see `frontdesk.console.admin`).
Every method is synchronous (it reads and writes the database); the API runs them in worker threads.
"""

from __future__ import annotations

from dataclasses import dataclass

from conversations.handoff import Handoff
from conversations.inbox import Inbox
from conversations.store import Conversation
from frontdesk.console.accounts import Clock, system_clock
from frontdesk.console.analysis import analysis, summary
from frontdesk.console.errors import AccessDeniedError, ConsoleConflictError, ConsoleNotFoundError, InvalidInputError
from frontdesk.console.notes import NoteStore
from frontdesk.console.sessions import ConsoleSession
from frontdesk.console.suggestions import ReplySuggester
from frontdesk.console.views import (
    JSON,
    agent_json,
    event_json,
    message_json,
    note_json,
    offer_json,
    sender_json,
    snapshot_json,
    ticket_json,
    when,
)
from routing import AgentStatus, HumanAgent, Role, Router, Ticket, TicketState

MAX_REPLY = 4000
MAX_REASON = 256
PREVIEW = 140


@dataclass(frozen=True, slots=True)
class Actor:
    """The signed-in agent making a request (and their session, when the request came with one)."""

    agent: HumanAgent
    session: ConsoleSession | None = None

    @property
    def id(self) -> str:
        return self.agent.id

    @property
    def supervises(self) -> bool:
        """Supervisors and admins see every queue and may act on any conversation."""
        return self.agent.role in (Role.SUPERVISOR, Role.ADMIN)

    @property
    def administers(self) -> bool:
        return self.agent.role is Role.ADMIN


class ConsoleService:
    """The console's actions over routing, the handoff, the inbox and the notes."""

    def __init__(
        self,
        router: Router,
        handoff: Handoff,
        inbox: Inbox,
        notes: NoteStore,
        suggester: ReplySuggester | None = None,
        *,
        now: Clock = system_clock,
    ) -> None:
        self.router = router
        self.handoff = handoff
        self.inbox = inbox
        self.notes = notes
        self.suggester = suggester
        self.now = now

    # -- who may see what ----------------------------------------------------------------------------------

    def may_view(self, actor: Actor, conversation_id: str) -> bool:
        """Supervisors see every conversation; an agent those offered to, aimed at, held or last held by them."""
        if actor.supervises:
            return True
        ticket = self.router.ticket_for(conversation_id)
        if ticket is not None and actor.id in (ticket.agent_id, ticket.target_agent):
            return True
        last = self.router.last_ticket(conversation_id)
        return last is not None and last.agent_id == actor.id

    def _viewable(self, actor: Actor, conversation_id: str) -> Conversation:
        conversation = self.inbox.store.get(conversation_id)
        if conversation is None:
            msg = f"no conversation with id {conversation_id!r}"
            raise ConsoleNotFoundError(msg)
        if not self.may_view(actor, conversation_id):
            msg = f"conversation {conversation_id!r} is neither offered to nor held by {actor.id!r}"
            raise AccessDeniedError(msg)
        return conversation

    def _open_ticket(self, conversation_id: str) -> Ticket:
        ticket = self.router.ticket_for(conversation_id)
        if ticket is None:
            msg = f"conversation {conversation_id!r} has no open ticket (it is with the assistant, or resolved)"
            raise ConsoleConflictError(msg)
        return ticket

    # -- the agent -----------------------------------------------------------------------------------------

    def me(self, actor: Actor) -> JSON:
        """The signed-in agent, fresh from routing, with what their role allows."""
        agent = self.router.agent(actor.id)
        return {
            **agent_json(agent),
            "supervises": agent.role in (Role.SUPERVISOR, Role.ADMIN),
            "administers": agent.role is Role.ADMIN,
            "csrf_token": actor.session.csrf_token if actor.session is not None else None,
            "session_expires_at": when(actor.session.expires_at) if actor.session is not None else None,
        }

    def set_status(self, actor: Actor, status: AgentStatus) -> JSON:
        """Go online, away or offline (away and offline hand back open offers)."""
        handed = self.router.set_status(actor.id, status, note=f"set to {status.value} in the console")
        return {"status": status.value, "handed_back": [ticket.id for ticket in handed]}

    def offers(self, actor: Actor) -> list[JSON]:
        """The agent's open offers, oldest first."""
        now = self.now()
        return [
            offer_json(offer, self.router.ticket(offer.ticket_id), now)
            for offer in self.router.offers(agent_id=actor.id)
        ]

    def accept(self, actor: Actor, offer_id: int) -> JSON:
        """Take an offered conversation."""
        return ticket_json(self.router.accept(offer_id, actor.id), self.now())

    def decline(self, actor: Actor, offer_id: int, note: str = "") -> JSON:
        """Pass on an offer; the conversation goes to the next agent."""
        return ticket_json(self.router.decline(offer_id, actor.id, note=note.strip()[:500]), self.now())

    def my_conversations(self, actor: Actor) -> list[JSON]:
        """The conversations the agent holds, each with its latest message."""
        now = self.now()
        items: list[JSON] = []
        for ticket in self.router.tickets(agent_id=actor.id, states=(TicketState.ASSIGNED,)):
            conversation = self.inbox.store.get(ticket.conversation_id)
            latest = self.inbox.store.messages(ticket.conversation_id, limit=1)
            items.append(
                {
                    "ticket": ticket_json(ticket, now),
                    "customer": conversation.customer_ref if conversation is not None else None,
                    "status": conversation.status if conversation is not None else None,
                    "last_message": {
                        "id": latest[0].id,
                        "role": latest[0].role,
                        "text": latest[0].text[:PREVIEW],
                        "created_at": when(latest[0].created_at),
                    }
                    if latest
                    else None,
                }
            )
        return items

    def queue(self, actor: Actor) -> JSON:
        """Every queue with its waiting tickets and SLA state, and every agent's load (supervisors only)."""
        if not actor.supervises:
            msg = f"only supervisors and admins see every queue; {actor.id!r} is an {actor.agent.role.value}"
            raise AccessDeniedError(msg)
        return snapshot_json(self.router.snapshot())

    def state(self, actor: Actor) -> JSON:
        """Everything the console's live feed keeps current for the agent."""
        current = Actor(self.router.agent(actor.id), actor.session)
        return {
            "me": agent_json(current.agent),
            "offers": self.offers(current),
            "conversations": self.my_conversations(current),
            "queue": self.queue(current) if current.supervises else None,
        }

    # -- one conversation ----------------------------------------------------------------------------------

    def conversation(self, actor: Actor, conversation_id: str) -> JSON:
        """The whole conversation with its channel, analysis, summary, ticket, history and internal notes."""
        conversation = self._viewable(actor, conversation_id)
        messages = self.inbox.store.messages(conversation_id)
        ticket = self.router.ticket_for(conversation_id) or self.router.last_ticket(conversation_id)
        found = analysis(conversation, messages, ticket)
        reason = (found["escalation"] or {}).get("reason")
        held = ticket is not None and ticket.state is TicketState.ASSIGNED and ticket.agent_id == actor.id
        is_open = ticket is not None and ticket.state is not TicketState.RESOLVED
        return {
            "conversation": {
                "id": conversation.id,
                "channel": conversation.channel,
                "status": conversation.status,
                "customer": conversation.customer_ref,
                "subject": conversation.subject,
                "language": conversation.language,
                "created_at": when(conversation.created_at),
                "escalated_at": when(conversation.escalated_at),
                **sender_json(messages),
            },
            "messages": [message_json(message) for message in messages],
            "analysis": found,
            "summary": summary(messages, ticket, reason),
            "ticket": ticket_json(ticket, self.now()) if ticket is not None else None,
            "history": [event_json(event) for event in self.router.history(ticket.id)] if ticket else [],
            "notes": [note_json(note) for note in self.notes.of(conversation_id)],
            "can_reply": held or actor.supervises,
            "can_act": is_open and (held or actor.supervises),
        }

    def reply(self, actor: Actor, conversation_id: str, text: str) -> JSON:
        """Send a reply to the customer through their own channel (the holder, or a supervisor)."""
        self._viewable(actor, conversation_id)
        clean = text.strip()
        if not clean:
            msg = "the reply is empty"
            raise InvalidInputError(msg)
        if len(clean) > MAX_REPLY:
            msg = f"a reply has at most {MAX_REPLY} characters, got {len(clean)}"
            raise InvalidInputError(msg)
        ticket = self.router.ticket_for(conversation_id)
        holds = ticket is not None and ticket.state is TicketState.ASSIGNED and ticket.agent_id == actor.id
        if not (holds or actor.supervises):
            msg = f"{actor.id!r} does not hold conversation {conversation_id!r}; accept its offer before replying"
            raise AccessDeniedError(msg)
        details = {"console_agent_id": actor.id, "console_agent_name": actor.agent.name}
        stored = self.inbox.post_reply(conversation_id, clean, author="human", details=details)
        return message_json(stored)

    def add_note(self, actor: Actor, conversation_id: str, text: str) -> JSON:
        """Store an internal note (never sent to the customer, never shown to them or to the assistant)."""
        self._viewable(actor, conversation_id)
        return note_json(self.notes.add(conversation_id, actor.id, text))

    def transfer(
        self, actor: Actor, conversation_id: str, *, to_agent: str | None, to_team: str | None, note: str = ""
    ) -> JSON:
        """Hand the conversation to another agent or team; a note goes with it (and into the internal notes)."""
        self._viewable(actor, conversation_id)
        ticket = self._open_ticket(conversation_id)
        clean = note.strip()
        moved = self.router.transfer(ticket.id, by=actor.id, to_agent=to_agent, to_team=to_team, note=clean)
        if clean:
            target = f"agent {to_agent}" if to_agent is not None else f"team {to_team}"
            self.notes.add(conversation_id, actor.id, f"Transferred to {target}: {clean}")
        return ticket_json(moved, self.now())

    def resolve(self, actor: Actor, conversation_id: str, reason: str) -> JSON:
        """Close the conversation's ticket with a reason, marking the conversation resolved."""
        self._viewable(actor, conversation_id)
        clean = reason.strip()
        if not clean:
            msg = "say why the conversation is resolved (a reason is required)"
            raise InvalidInputError(msg)
        if len(clean) > MAX_REASON:
            msg = f"a resolution reason has at most {MAX_REASON} characters, got {len(clean)}"
            raise InvalidInputError(msg)
        ticket = self._open_ticket(conversation_id)
        self.handoff.resolve(ticket.id, by=actor.id, reason=clean)
        return ticket_json(self.router.ticket(ticket.id), self.now())

    def suggestions(self, actor: Actor, conversation_id: str) -> JSON:
        """Up to three suggested replies to the customer's latest question, with their citations."""
        self._viewable(actor, conversation_id)
        if self.suggester is None:
            msg = "suggested replies need the knowledge base, which this console was started without"
            raise ConsoleConflictError(msg)
        found = self.suggester.suggest(self.inbox.store.messages(conversation_id))
        return {
            "question": found.question,
            "suggestions": [
                {
                    "text": item.text,
                    "score": item.score,
                    "citations": [
                        {"title": c.title, "url": c.url, "section": c.section, "document_id": c.document_id}
                        for c in item.citations
                    ],
                }
                for item in found.items
            ],
        }

    def holder(self, conversation_id: str) -> str | None:
        """The agent a conversation is offered to or held by, if any."""
        ticket = self.router.ticket_for(conversation_id)
        return ticket.agent_id if ticket is not None else None
