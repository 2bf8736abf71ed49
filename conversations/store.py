"""Conversations and their messages: the inbox's memory, shared by every channel."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa

metadata = sa.MetaData()

conversations_table = sa.Table(
    "conversations",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("customer_ref", sa.String(256), nullable=True, index=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("language", sa.String(16), nullable=True),
    sa.Column("bot_turns", sa.Integer, nullable=False),
    sa.Column("ungrounded_streak", sa.Integer, nullable=False),
    sa.Column("escalation_reason", sa.String(64), nullable=True),
    sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("our_address", sa.String(256), nullable=True),
    sa.Column("subject", sa.String(512), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

messages_table = sa.Table(
    "messages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "conversation_id",
        sa.String(128),
        sa.ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("original_text", sa.Text, nullable=True),
    sa.Column("details", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

Role = Literal["customer", "agent", "human", "system"]
Status = Literal["bot", "escalated", "resolved"]


@dataclass(frozen=True, slots=True)
class StoredMessage:
    id: int
    conversation_id: str
    role: Role
    text: str
    original_text: str | None
    details: dict[str, Any]
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Conversation:
    id: str
    channel: str
    customer_ref: str | None
    status: Status
    language: str | None
    bot_turns: int
    ungrounded_streak: int
    escalation_reason: str | None
    our_address: str | None
    subject: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    escalated_at: dt.datetime | None = None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def conversation_from_row(row: sa.Row[Any]) -> Conversation:
    """A conversation read from a row of `conversations`."""
    return Conversation(
        id=row.id,
        channel=row.channel,
        customer_ref=row.customer_ref,
        status=row.status,
        language=row.language,
        bot_turns=row.bot_turns,
        ungrounded_streak=row.ungrounded_streak,
        escalation_reason=row.escalation_reason,
        our_address=row.our_address,
        subject=row.subject,
        created_at=row.created_at,
        updated_at=row.updated_at,
        escalated_at=row.escalated_at,
    )


def _stored(row: sa.Row[Any]) -> StoredMessage:
    return StoredMessage(
        row.id, row.conversation_id, row.role, row.text, row.original_text, row.details or {}, row.created_at
    )


def insert_conversation(
    conn: sa.Connection,
    conversation_id: str,
    *,
    channel: str,
    customer_ref: str | None,
    now: dt.datetime,
    our_address: str | None = None,
    subject: str | None = None,
) -> Conversation:
    """A new conversation, held by the assistant, in the caller's transaction."""
    values = {
        "id": conversation_id,
        "channel": channel,
        "customer_ref": customer_ref,
        "status": "bot",
        "language": None,
        "bot_turns": 0,
        "ungrounded_streak": 0,
        "escalation_reason": None,
        "our_address": our_address,
        "subject": subject,
        "created_at": now,
        "updated_at": now,
    }
    conn.execute(sa.insert(conversations_table).values(**values))
    return Conversation(**values)  # type: ignore[arg-type]


def insert_message(
    conn: sa.Connection,
    conversation_id: str,
    role: str,
    text: str,
    *,
    now: dt.datetime,
    original_text: str | None = None,
    details: dict[str, Any] | None = None,
) -> int:
    """Store one message in the caller's transaction; its id. (With `update_conversation` and
    `delete_conversations`, the only code that writes the conversation tables.)"""
    result = conn.execute(
        sa.insert(messages_table).values(
            conversation_id=conversation_id,
            role=role,
            text=text,
            original_text=original_text,
            details=details if details is not None else {},
            created_at=now,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def update_conversation(
    conn: sa.Connection,
    conversation_id: str,
    *,
    unless_status: str | None = None,
    only_if_status: str | None = None,
    **values: Any,
) -> int:
    """Change a conversation's columns in the caller's transaction (optionally only from, or not from, a status);
    how many rows changed (0 or 1)."""
    c = conversations_table.c
    query = sa.update(conversations_table).where(c.id == conversation_id)
    if unless_status is not None:
        query = query.where(c.status != unless_status)
    if only_if_status is not None:
        query = query.where(c.status == only_if_status)
    return int(conn.execute(query.values(**values)).rowcount or 0)


def delete_conversations(conn: sa.Connection, conversation_ids: Sequence[str]) -> tuple[int, int]:
    """Delete conversations and their messages in the caller's transaction: (messages, conversations) deleted."""
    ids = list(conversation_ids)
    messages = conn.execute(sa.delete(messages_table).where(messages_table.c.conversation_id.in_(ids))).rowcount
    conversations = conn.execute(sa.delete(conversations_table).where(conversations_table.c.id.in_(ids))).rowcount
    return int(messages or 0), int(conversations or 0)


class ConversationStore:
    """Reads and writes conversations and messages.

    The reading methods take the caller's connection (`conn`), so that several reads share one, or run inside
    the caller's transaction; without one, each opens its own.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    @contextmanager
    def _reading(self, conn: sa.Connection | None) -> Iterator[sa.Connection]:
        if conn is not None:
            yield conn
            return
        with self.engine.connect() as own:
            yield own

    def get_or_create(self, conversation_id: str, *, channel: str, customer_ref: str | None = None) -> Conversation:
        """The conversation with this id, created on first use."""
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(conversations_table).where(conversations_table.c.id == conversation_id)
            ).first()
            if row is not None:
                return conversation_from_row(row)
            try:
                with conn.begin_nested():
                    return insert_conversation(
                        conn, conversation_id, channel=channel, customer_ref=customer_ref, now=_now()
                    )
            except sa.exc.IntegrityError:
                row = conn.execute(
                    sa.select(conversations_table).where(conversations_table.c.id == conversation_id)
                ).one()
                return conversation_from_row(row)

    def get(self, conversation_id: str, *, conn: sa.Connection | None = None) -> Conversation | None:
        with self._reading(conn) as reading:
            row = reading.execute(
                sa.select(conversations_table).where(conversations_table.c.id == conversation_id)
            ).first()
        return conversation_from_row(row) if row is not None else None

    def add_message(
        self,
        conversation_id: str,
        role: Role,
        text: str,
        *,
        original_text: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> StoredMessage:
        now = _now()
        payload = json.loads(json.dumps(details or {}, default=str))
        with self.engine.begin() as conn:
            new_id = insert_message(
                conn, conversation_id, role, text, now=now, original_text=original_text, details=payload
            )
            update_conversation(conn, conversation_id, updated_at=now)
        return StoredMessage(new_id, conversation_id, role, text, original_text, payload, now)

    def messages(
        self,
        conversation_id: str,
        *,
        limit: int | None = None,
        before: int | None = None,
        conn: sa.Connection | None = None,
    ) -> list[StoredMessage]:
        """Messages oldest first (the newest `limit` ones when given; only those before message id `before`)."""
        query = (
            sa.select(messages_table)
            .where(messages_table.c.conversation_id == conversation_id)
            .order_by(messages_table.c.id.desc())
        )
        if before is not None:
            query = query.where(messages_table.c.id < before)
        if limit is not None:
            query = query.limit(limit)
        with self._reading(conn) as reading:
            rows = list(reading.execute(query))
        return [_stored(r) for r in reversed(rows)]

    def messages_after(
        self, conversation_id: str, message_id: int, *, conn: sa.Connection | None = None
    ) -> list[StoredMessage]:
        """Messages after message id `message_id`, oldest first."""
        query = (
            sa.select(messages_table)
            .where(messages_table.c.conversation_id == conversation_id, messages_table.c.id > message_id)
            .order_by(messages_table.c.id)
        )
        with self._reading(conn) as reading:
            return [_stored(r) for r in reading.execute(query)]

    def messages_by_id(self, message_ids: Sequence[int], *, conn: sa.Connection | None = None) -> list[StoredMessage]:
        """The messages with these ids, oldest first."""
        query = (
            sa.select(messages_table).where(messages_table.c.id.in_(list(message_ids))).order_by(messages_table.c.id)
        )
        with self._reading(conn) as reading:
            return [_stored(r) for r in reading.execute(query)]

    def provider_ids(self, conversation_id: str) -> list[str]:
        """The providers' ids of the customer's messages in a conversation, oldest first (for threading)."""
        ids: list[str] = []
        for message in self.messages(conversation_id):
            provider_id = message.details.get("provider_message_id") if message.role == "customer" else None
            if isinstance(provider_id, str) and provider_id:
                ids.append(provider_id)
        return ids

    def update_state(
        self,
        conversation_id: str,
        *,
        status: Status | None = None,
        language: str | None = None,
        bot_turns: int | None = None,
        ungrounded_streak: int | None = None,
        escalation_reason: str | None = None,
    ) -> None:
        values: dict[str, Any] = {"updated_at": _now()}
        if status == "escalated":
            values["escalated_at"] = values["updated_at"]
        for key, value in (
            ("status", status),
            ("language", language),
            ("bot_turns", bot_turns),
            ("ungrounded_streak", ungrounded_streak),
            ("escalation_reason", escalation_reason),
        ):
            if value is not None:
                values[key] = value
        with self.engine.begin() as conn:
            update_conversation(conn, conversation_id, **values)

    def delete(self, conversation_ids: Sequence[str]) -> int:
        with self.engine.begin() as conn:
            return delete_conversations(conn, conversation_ids)[1]
