"""Console work routes: status, offers, conversations, the queues, replies, internal notes, transfers,
resolutions and suggested replies. Reads need a session; changes also the CSRF token (see console_deps)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from frontdesk.api.console_deps import ActingDep, ActorDep, ConsoleDep, call
from routing import AgentStatus

router = APIRouter()

ConversationId = Annotated[str, Path(min_length=1, max_length=128, description="The conversation's id")]
OfferId = Annotated[int, Path(ge=1, description="The offer's id")]


class StatusIn(BaseModel):
    status: AgentStatus


class NoteIn(BaseModel):
    note: str = Field(default="", max_length=500)


class TextIn(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


class TransferIn(BaseModel):
    to_agent: str | None = Field(default=None, max_length=64)
    to_team: str | None = Field(default=None, max_length=64)
    note: str = Field(default="", max_length=2000)


class ResolveIn(BaseModel):
    reason: str = Field(min_length=1, max_length=256)


@router.put("/me/status")
async def set_status(body: StatusIn, actor: ActingDep, console: ConsoleDep) -> dict[str, Any]:
    """Go online, away or offline (away and offline hand back open offers)."""
    return await call(lambda: console.service.set_status(actor, body.status))


@router.get("/state")
async def state(actor: ActorDep, console: ConsoleDep) -> dict[str, Any]:
    """What the live feed keeps current: me, my offers, my conversations and (supervisors) the queues."""
    return await call(lambda: console.service.state(actor))


@router.get("/offers")
async def offers(actor: ActorDep, console: ConsoleDep) -> list[dict[str, Any]]:
    """My open offers, oldest first, with what each conversation is about."""
    return await call(lambda: console.service.offers(actor))


@router.post("/offers/{offer_id}/accept")
async def accept(offer_id: OfferId, actor: ActingDep, console: ConsoleDep) -> dict[str, Any]:
    """Take an offered conversation (409 when the offer expired or was withdrawn)."""
    return await call(lambda: console.service.accept(actor, offer_id))


@router.post("/offers/{offer_id}/decline")
async def decline(offer_id: OfferId, body: NoteIn, actor: ActingDep, console: ConsoleDep) -> dict[str, Any]:
    """Pass on an offer; the conversation goes to the next agent."""
    return await call(lambda: console.service.decline(actor, offer_id, body.note))


@router.get("/conversations")
async def my_conversations(actor: ActorDep, console: ConsoleDep) -> list[dict[str, Any]]:
    """The conversations I hold, each with its latest message."""
    return await call(lambda: console.service.my_conversations(actor))


@router.get("/queue")
async def queue(actor: ActorDep, console: ConsoleDep) -> dict[str, Any]:
    """Every queue with waiting tickets and SLA state, and every agent's load (supervisors and admins)."""
    return await call(lambda: console.service.queue(actor))


@router.get("/teams")
async def teams(actor: ActorDep, console: ConsoleDep) -> list[dict[str, Any]]:
    """Teams and agents to transfer a conversation to."""

    def listing() -> list[dict[str, Any]]:
        agents = console.service.router.agents()
        return [
            {
                "id": team.id,
                "name": team.name,
                "skills": list(team.skills),
                "agents": [{"id": a.id, "name": a.name, "status": a.status.value} for a in agents if a.team == team.id],
            }
            for team in console.service.router.teams()
        ] + [
            {
                "id": None,
                "name": "No team",
                "skills": [],
                "agents": [{"id": a.id, "name": a.name, "status": a.status.value} for a in agents if a.team is None],
            }
        ]

    return await call(listing)


@router.get("/conversations/{conversation_id}")
async def conversation(conversation_id: ConversationId, actor: ActorDep, console: ConsoleDep) -> dict[str, Any]:
    """A conversation with its channel, messages (with the customer's original text), intent, sentiment,
    escalation reason, summary, ticket, ticket history and internal notes."""
    return await call(lambda: console.service.conversation(actor, conversation_id))


@router.get("/conversations/{conversation_id}/suggestions")
async def suggestions(conversation_id: ConversationId, actor: ActorDep, console: ConsoleDep) -> dict[str, Any]:
    """Up to three suggested replies to the customer's latest question, each with its knowledge-base citations
    (never sent by themselves)."""
    return await call(lambda: console.service.suggestions(actor, conversation_id))


@router.post("/conversations/{conversation_id}/replies", status_code=201)
async def reply(conversation_id: ConversationId, body: TextIn, actor: ActingDep, console: ConsoleDep) -> dict[str, Any]:
    """Reply to the customer; it leaves through the customer's own channel."""
    return await call(lambda: console.service.reply(actor, conversation_id, body.text))


@router.post("/conversations/{conversation_id}/notes", status_code=201)
async def add_note(
    conversation_id: ConversationId, body: TextIn, actor: ActingDep, console: ConsoleDep
) -> dict[str, Any]:
    """Add an internal note: shown to agents only, never to the customer or the assistant."""
    return await call(lambda: console.service.add_note(actor, conversation_id, body.text))


@router.post("/conversations/{conversation_id}/transfer")
async def transfer(
    conversation_id: ConversationId, body: TransferIn, actor: ActingDep, console: ConsoleDep
) -> dict[str, Any]:
    """Transfer to an agent or a team (exactly one), with a note for them."""
    return await call(
        lambda: console.service.transfer(
            actor, conversation_id, to_agent=body.to_agent or None, to_team=body.to_team or None, note=body.note
        )
    )


@router.post("/conversations/{conversation_id}/resolve")
async def resolve(
    conversation_id: ConversationId, body: ResolveIn, actor: ActingDep, console: ConsoleDep
) -> dict[str, Any]:
    """Resolve the conversation with a reason."""
    return await call(lambda: console.service.resolve(actor, conversation_id, body.reason))
