"""Conversation routes for integrations: send a customer message and get the agent's reply (JSON or
server-sent events), read a conversation. Writing needs a key with `conversations:write` and reaches only
conversations of the API channel (never a customer's web chat, mail or phone thread); reading needs
`conversations:read` and shows what an integration may see: the redacted texts, never the original text, the
sender's address or the channel's metadata."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, HTTPException, Path, Request, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, field_validator

from agent.types import AgentReply, Escalation, Intent, Sentiment, TextDelta
from conversations.inbox import Answered, Inbox, reply_details
from frontdesk.api.auth import ConversationReader, ConversationWriter
from frontdesk.api.deps import get_runtime
from frontdesk.api.throttle import AddressMessageLimit
from frontdesk.runtime import Runtime
from knowledge.documents import Citation

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])
API_CHANNEL = "api"

ConversationId = Annotated[
    str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$", description="Chosen by the client")
]


def get_inbox(runtime: Annotated[Runtime, Depends(get_runtime)]) -> Inbox:
    return runtime.inbox


InboxDep = Annotated[Inbox, Depends(get_inbox)]


class MessageIn(BaseModel):
    text: str = Field(min_length=1, max_length=4000)
    stream: bool = False

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            msg = "the message is blank"
            raise ValueError(msg)
        return value


class AnswerOut(BaseModel):
    """The agent's answer to one customer message, with the stored ids of both."""

    text: str
    citations: list[Citation] = Field(description="The knowledge-base passages the answer cites.")
    confidence: float
    grounded: bool = Field(description="Every sentence is supported by the passages it cites.")
    intent: Intent | None
    sentiment: Sentiment
    escalation: Escalation | None = Field(description="Set when the conversation went to a person.")
    answered_from_knowledge: bool
    writer: str = Field(description="What wrote the answer: the model's name, or the offline writer.")
    standalone_question: str
    timings_ms: dict[str, float]
    message_id: int | None = Field(description="The stored answer's id.")
    customer_message_id: int = Field(description="The stored id of the customer's message.")


def reply_json(reply: AgentReply) -> dict[str, Any]:
    return {"text": reply.text, **reply_details(reply)}


def answered_json(answered: Answered) -> dict[str, Any]:
    """The reply, with the stored ids of the customer's message and of the answer."""
    return {
        **reply_json(answered.answer),
        "message_id": answered.answer_id,
        "customer_message_id": answered.receipt.message_id,
    }


def _sse(event: str, data: object) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


@router.post(
    "/{conversation_id}/messages",
    response_model=AnswerOut,
    dependencies=[AddressMessageLimit],
    responses={200: {"content": {"text/event-stream": {}}, "description": "The answer, or its stream of events."}},
)
async def post_message(
    conversation_id: ConversationId,
    message: MessageIn,
    inbox: InboxDep,
    request: Request,
    _caller: ConversationWriter,
) -> dict[str, Any] | StreamingResponse:
    """Send a customer message; the reply is the `AgentReply`, or server-sent events when asked to stream."""
    existing = await anyio.to_thread.run_sync(inbox.store.get, conversation_id)
    if existing is not None and existing.channel != API_CHANNEL:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"conversation {conversation_id!r} belongs to the {existing.channel} channel; "
            "this API writes only to conversations it started (choose another id)",
        )
    wants_stream = message.stream or "text/event-stream" in request.headers.get("accept", "")
    if not wants_stream:
        return answered_json(await inbox.handle(conversation_id, message.text))

    async def events() -> AsyncIterator[bytes]:
        async for event in inbox.handle_stream(conversation_id, message.text):
            if isinstance(event, Answered):
                yield _sse("reply", answered_json(event))
            elif isinstance(event, TextDelta):
                yield _sse("delta", {"text": event.text})
        yield _sse("done", {})

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


class MessageOut(BaseModel):
    role: str
    text: str = Field(description="As stored: personal data replaced by placeholders.")
    created_at: str
    citations: list[dict[str, Any]] = Field(default_factory=list, description="For the agent's answers.")


class ConversationOut(BaseModel):
    id: str
    channel: str
    status: str
    escalation_reason: str | None
    bot_turns: int
    messages: list[MessageOut]


@router.get("/{conversation_id}")
async def get_conversation(
    conversation_id: ConversationId, inbox: InboxDep, _caller: ConversationReader
) -> ConversationOut:
    """A conversation with its messages (personal data redacted)."""
    conversation = await anyio.to_thread.run_sync(inbox.store.get, conversation_id)
    if conversation is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no conversation with id {conversation_id!r}")
    messages = await anyio.to_thread.run_sync(inbox.store.messages, conversation_id)
    return ConversationOut(
        id=conversation.id,
        channel=conversation.channel,
        status=conversation.status,
        escalation_reason=conversation.escalation_reason,
        bot_turns=conversation.bot_turns,
        messages=[
            MessageOut(
                role=m.role,
                text=m.text,
                created_at=m.created_at.isoformat(),
                citations=[c for c in m.details.get("citations") or () if isinstance(c, dict)]
                if m.role == "agent"
                else [],
            )
            for m in messages
        ],
    )
