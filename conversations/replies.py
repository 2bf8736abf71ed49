"""What people and the system write to a customer: stored and put in the outbox in one transaction.

The inbox, the hand-off (announcing the person who took a conversation) and the agent console all post through
`Replies`; each channel may give outgoing messages its own addressing (an e-mail's per-conversation Reply-To).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from channels.email import SupportMailbox, new_reply_token, reply_address, reply_key
from channels.email.threads import REPLY_KEY_PREFIX
from channels.messages import Link, OutboundMessage
from conversations.intake import Intake
from conversations.interactions import Interactions
from conversations.outbox import Doorbell, enqueue
from conversations.store import (
    Conversation,
    ConversationStore,
    StoredMessage,
    insert_message,
    update_conversation,
)

Addressing = Callable[[Conversation, OutboundMessage], OutboundMessage]
"""Gives an outgoing message what its channel needs beyond the conversation (an e-mail's Reply-To)."""


class Replies:
    """Stores a reply and enqueues its delivery; `outbox` is rung when something was enqueued."""

    def __init__(
        self,
        store: ConversationStore,
        *,
        addressing: Mapping[str, Addressing] | None = None,
        outbox: Doorbell | None = None,
        interactions: Interactions | None = None,
    ) -> None:
        self.store = store
        self.addressing = dict(addressing or {})
        self.outbox = outbox or Doorbell()
        self.interactions = interactions

    def outbound(
        self,
        conversation: Conversation,
        text: str,
        *,
        author: str,
        message_id: str,
        citations: Sequence[Link] = (),
    ) -> OutboundMessage:
        """The message that carries `text` to the conversation's customer on its channel."""
        references = self.store.provider_ids(conversation.id)
        message = OutboundMessage(
            message_id=message_id,
            conversation_id=conversation.id,
            channel=conversation.channel,
            recipient=conversation.customer_ref or conversation.id,
            text=text,
            author=author,  # type: ignore[arg-type]
            sender=conversation.our_address,
            subject=conversation.subject,
            citations=tuple(citations),
            in_reply_to=references[-1] if references else None,
            references=tuple(references[-10:]),
        )
        addressing = self.addressing.get(conversation.channel)
        return addressing(conversation, message) if addressing is not None else message

    def post(
        self, conversation_id: str, text: str, *, author: str = "human", details: dict[str, Any] | None = None
    ) -> StoredMessage:
        """Store a reply written by a person (or the system) and put it in the outbox, in one transaction."""
        if not text.strip():
            msg = "the reply is empty"
            raise ValueError(msg)
        conversation = self.store.get(conversation_id)
        if conversation is None:
            msg = f"no conversation with id {conversation_id!r}"
            raise LookupError(msg)
        outbound = self.outbound(conversation, text, author=author, message_id=f"{author}-{uuid.uuid4().hex[:20]}")
        now = dt.datetime.now(dt.UTC)
        payload = json.loads(json.dumps({**(details or {}), "outbox_message_id": outbound.message_id}, default=str))
        with self.store.engine.begin() as conn:
            new_id = insert_message(conn, conversation_id, author, text, now=now, details=payload)
            update_conversation(conn, conversation_id, updated_at=now)
            enqueue(conn, outbound, dedupe_key=outbound.message_id, now=now)
        self.outbox.ring()
        if author == "human" and self.interactions is not None:
            self.interactions.human_reply(conversation_id, text, actor=(details or {}).get("console_agent_id"))
        return StoredMessage(new_id, conversation_id, author, text, None, payload, now)  # type: ignore[arg-type]


def email_addressing(intake: Intake, mailbox: SupportMailbox) -> Addressing:
    """Gives each e-mail reply the conversation's own Reply-To address (`support+<token>@...`), so a reply
    from any mail client finds its conversation even when the threading headers are lost."""

    def address(conversation: Conversation, message: OutboundMessage) -> OutboundMessage:
        tokens = [k[len(REPLY_KEY_PREFIX) :] for k in intake.keys(conversation.id) if k.startswith(REPLY_KEY_PREFIX)]
        token = tokens[0] if tokens else new_reply_token()
        if not tokens:
            intake.add_keys("email", conversation.id, [reply_key(token).value])
        metadata = {**message.metadata, "reply_to": reply_address(mailbox.address, token)}
        return dataclasses.replace(message, metadata=metadata)

    return address
