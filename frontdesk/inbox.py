"""The inbox: stores each customer message, asks the agent, stores and returns its reply."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio

from agent.agent import ConversationMemory, SupportAgent, failure_reply, final_reply
from agent.escalation import EscalationPolicy
from agent.guardrails import redact
from agent.sentiment import analyze_sentiment
from agent.types import AgentReply, TextDelta
from frontdesk.conversations import Conversation, ConversationStore
from knowledge.documents import Turn

logger = logging.getLogger(__name__)


def reply_details(reply: AgentReply) -> dict[str, Any]:
    """The reply as plain JSON-able data (for storage and the API)."""
    data = dataclasses.asdict(reply)
    data.pop("text", None)
    return data


class Inbox:
    """Persist first, answer after: a message is stored before the agent sees it."""

    def __init__(self, store: ConversationStore, agent: SupportAgent, policy: EscalationPolicy) -> None:
        self.store = store
        self.agent = agent
        self.policy = policy

    def _memory(self, conversation: Conversation) -> ConversationMemory:
        history = tuple(
            Turn(role="customer" if m.role == "customer" else "agent", text=m.text)
            for m in self.store.messages(conversation.id, limit=20)
            if m.role in {"customer", "agent", "human"}
        )
        return ConversationMemory(
            history=history, bot_turns=conversation.bot_turns, ungrounded_streak=conversation.ungrounded_streak
        )

    async def handle(self, conversation_id: str, text: str, *, channel: str = "api") -> AgentReply:
        """Store the message, answer it, store the answer."""
        return await final_reply(self.handle_stream(conversation_id, text, channel=channel))

    async def handle_stream(
        self, conversation_id: str, text: str, *, channel: str = "api"
    ) -> AsyncIterator[TextDelta | AgentReply]:
        """Like `handle`, yielding the answer text as it is written."""
        if not text.strip():
            msg = "the message is empty"
            raise ValueError(msg)
        conversation = await anyio.to_thread.run_sync(
            lambda: self.store.get_or_create(conversation_id, channel=channel)
        )
        memory = await anyio.to_thread.run_sync(self._memory, conversation)
        redacted = redact(text).text
        await anyio.to_thread.run_sync(
            lambda: self.store.add_message(conversation_id, "customer", redacted, original_text=text)
        )
        reply: AgentReply | None = None
        try:
            async for event in self.agent.reply_stream(text, memory):
                if isinstance(event, AgentReply):
                    reply = event
                else:
                    yield event
        except Exception as exc:  # the customer gets a person, never an error
            logger.exception("the agent failed on conversation %s", conversation_id)
            reply = failure_reply(exc, analyze_sentiment(redacted, memory.history))
            yield TextDelta(reply.text)
        assert reply is not None
        streak = memory.ungrounded_streak + 1 if not reply.grounded and reply.escalation is None else 0
        final = reply

        def persist() -> None:
            self.store.add_message(conversation_id, "agent", final.text, details=reply_details(final))
            self.store.update_state(
                conversation_id,
                bot_turns=memory.bot_turns + 1,
                ungrounded_streak=streak,
                status="escalated" if final.escalation is not None else None,
                escalation_reason=final.escalation.reason.value if final.escalation is not None else None,
            )

        await anyio.to_thread.run_sync(persist)
        yield final
