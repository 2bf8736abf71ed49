"""Intake: every inbound message stored exactly once, in its conversation, before anyone acknowledges it.

One transaction per message: recognise a provider's retry by its message id, find the conversation (by the
channel's id for it, or by the message's thread keys), store the message and its attachments, record the
keys later messages will carry, and queue the message for an answer when the bot holds the conversation.
The queue (`pending_replies`) is what makes "persist first, answer after" survive a crash: a message whose
answer was never stored stays queued, and a worker that dies mid-answer loses only its lease.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from channels.messages import Attachment, InboundMessage, ThreadKey
from conversations.store import (
    Conversation,
    conversation_from_row,
    conversations_table,
    insert_conversation,
    insert_message,
    messages_table,
    metadata,
    update_conversation,
)

conversation_keys_table = sa.Table(
    "conversation_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("key", sa.String(512), nullable=False),
    sa.Column("conversation_id", sa.String(128), sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("channel", "key", "conversation_id", name="uq_conversation_keys"),
)

inbound_receipts_table = sa.Table(
    "inbound_receipts",
    metadata,
    sa.Column("channel", sa.String(32), primary_key=True),
    sa.Column("provider_message_id", sa.String(256), primary_key=True),
    sa.Column("message_id", sa.Integer, sa.ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    sa.Column("conversation_id", sa.String(128), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

attachments_table = sa.Table(
    "message_attachments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("message_id", sa.Integer, sa.ForeignKey("messages.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("filename", sa.String(512), nullable=False),
    sa.Column("content_type", sa.String(255), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("content", sa.LargeBinary, nullable=True),
    sa.Column("url", sa.Text, nullable=True),
)

pending_replies_table = sa.Table(
    "pending_replies",
    metadata,
    sa.Column("message_id", sa.Integer, sa.ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("conversation_id", sa.String(128), nullable=False, index=True),
    sa.Column("claim", sa.String(32), nullable=True),
    sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True, slots=True)
class Receipt:
    """What intake did with a message: where it went, and whether it was a provider's retry.

    `status` is the conversation's status after the message, `previous_status` before it (None for a retry).
    """

    conversation_id: str
    message_id: int
    duplicate: bool
    new_conversation: bool
    queued: bool
    status: str
    claim: Claim | None = None
    previous_status: str | None = None
    dropped_attachments: tuple[str, ...] = ()
    stored_text: str | None = None  # the message's text as stored (personal data replaced); None for a retry


@dataclass(frozen=True, slots=True)
class AttachmentQuota:
    """How many attachments one conversation may keep, and how many bytes of attachment content all
    conversations together may store in 24 hours. A message over quota is still stored; its attachments
    over quota are not (the message names them, and a system note tells the agents why)."""

    per_conversation: int = 50
    bytes_per_day: int = 200_000_000

    def __post_init__(self) -> None:
        if self.per_conversation < 0 or self.bytes_per_day < 0:
            msg = (
                f"attachment quotas cannot be negative, got per_conversation={self.per_conversation}, "
                f"bytes_per_day={self.bytes_per_day}"
            )
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class Claim:
    """Queued messages of one conversation, taken by one worker until `until`."""

    token: str
    conversation_id: str
    message_ids: tuple[int, ...]
    until: dt.datetime


def utc(value: dt.datetime) -> dt.datetime:
    """A timestamp read back from the database, as an aware UTC datetime (SQLite drops the zone)."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_conversation_id(channel: str) -> str:
    """A fresh, unguessable conversation id that names its channel."""
    return f"{channel}-{uuid.uuid4().hex}"


class Intake:
    """Stores inbound messages once and keeps the queue of messages awaiting an answer."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        lease: dt.timedelta = dt.timedelta(seconds=60),
        back_to_bot: Callable[[str], bool] | None = None,
        quota: AttachmentQuota | None = None,
    ) -> None:
        """`back_to_bot` tells whether a message in a conversation waiting for a person asks to go on with the
        assistant instead; such a message hands the conversation back to the bot, which answers it. `quota`
        limits the attachments kept (none without it)."""
        if lease <= dt.timedelta(0):
            msg = f"the reply lease must be positive, got {lease}"
            raise ValueError(msg)
        self.engine = engine
        self.lease = lease
        self.back_to_bot = back_to_bot
        self.quota = quota

    def receive(
        self, message: InboundMessage, *, redact: Callable[[str], str], answer: bool = True, claim: bool = False
    ) -> Receipt:
        """Store `message` (redacted text beside the original) unless it was stored before; queue it for an
        answer when `answer` and the bot holds the conversation. With `claim`, the queued messages of the
        conversation are also taken for the caller in the same transaction (`Receipt.claim`), so that no
        worker can take a message its in-band caller is about to answer."""
        try:
            return self._receive(message, redact=redact, answer=answer, claim=claim)
        except sa.exc.IntegrityError:
            # A concurrent delivery of the same provider message won the race: report it as a duplicate.
            receipt = self._existing(message)
            if receipt is None:
                raise
            return receipt

    def _existing(self, message: InboundMessage) -> Receipt | None:
        if message.provider_message_id is None:
            return None
        with self.engine.connect() as conn:
            return self._receipt_of(conn, message)

    def _receipt_of(self, conn: sa.Connection, message: InboundMessage) -> Receipt | None:
        if message.provider_message_id is None:
            return None
        receipts = inbound_receipts_table.c
        row = conn.execute(
            sa.select(receipts.message_id, receipts.conversation_id).where(
                receipts.channel == message.channel, receipts.provider_message_id == message.provider_message_id
            )
        ).first()
        if row is None:
            return None
        status = conn.execute(
            sa.select(conversations_table.c.status).where(conversations_table.c.id == row.conversation_id)
        ).scalar_one()
        queued = conn.execute(
            sa.select(sa.func.count())
            .select_from(pending_replies_table)
            .where(pending_replies_table.c.message_id == row.message_id)
        ).scalar_one()
        return Receipt(row.conversation_id, int(row.message_id), True, False, bool(queued), str(status))

    def _receive(self, message: InboundMessage, *, redact: Callable[[str], str], answer: bool, claim: bool) -> Receipt:
        now = _now()
        # CPU work on the text before the transaction, so the database is held only for the writes.
        text = message.text.strip() or _attachment_summary(message)
        redacted = redact(text)
        prefers_bot = bool(answer and self.back_to_bot and self.back_to_bot(text))
        with self.engine.begin() as conn:
            existing = self._receipt_of(conn, message)
            if existing is not None:
                return existing
            conversation, created = self._conversation_for(conn, message, now)
            details: dict[str, Any] = {
                "channel": message.channel,
                "sender": message.sender,
                "provider_message_id": message.provider_message_id,
            }
            if message.subject:
                details["subject"] = message.subject
            if message.sender_name:
                details["sender_name"] = message.sender_name
            if message.metadata:
                details["metadata"] = dict(message.metadata)
            kept, dropped = self._within_quota(conn, conversation.id, message.attachments, now)
            if message.attachments:
                details["attachments"] = [
                    {"filename": a.filename, "content_type": a.content_type, "size": a.size, "url": a.url}
                    | ({"dropped": dropped[i]} if i in dropped else {})
                    for i, a in enumerate(message.attachments)
                ]
            message_id = insert_message(
                conn,
                conversation.id,
                "customer",
                redacted,
                now=now,
                original_text=text if redacted != text else None,
                details=json.loads(json.dumps(details, default=str)),
            )
            for attachment in kept:
                conn.execute(
                    sa.insert(attachments_table).values(
                        message_id=message_id,
                        filename=attachment.filename[:512],
                        content_type=attachment.content_type[:255],
                        size=attachment.size,
                        content=attachment.content,
                        url=attachment.url,
                    )
                )
            if dropped:
                names = [message.attachments[i].filename[:200] for i in sorted(dropped)]
                reasons = "; ".join(dict.fromkeys(dropped.values()))
                insert_message(
                    conn,
                    conversation.id,
                    "system",
                    f"Attachments not kept ({', '.join(names)}): {reasons}. The message itself is stored.",
                    now=now,
                    details={"event": "attachments_dropped", "message_id": message_id, "dropped": names},
                )
            if message.provider_message_id is not None:
                conn.execute(
                    sa.insert(inbound_receipts_table).values(
                        channel=message.channel,
                        provider_message_id=message.provider_message_id,
                        message_id=message_id,
                        conversation_id=conversation.id,
                        created_at=now,
                    )
                )
            # A channel that names the keys to record gets exactly those; otherwise its sender-bound lookup keys
            # are recorded (a phone number pair: the same key finds the conversation next time).
            record = list(message.record_keys) or [key.value for key in message.thread_keys if key.same_sender]
            record_keys(conn, message.channel, conversation.id, record, now)
            status = conversation.status
            if answer and (status == "resolved" or (status == "escalated" and prefers_bot)):
                status = "bot"  # a new message reopens a resolved conversation; or the customer prefers the bot
            queued = answer and status == "bot"
            if queued:
                conn.execute(
                    sa.insert(pending_replies_table).values(
                        message_id=message_id, conversation_id=conversation.id, attempts=0, created_at=now
                    )
                )
            taken = self._claim(conn, conversation.id, now) if queued and claim else None
            updates: dict[str, Any] = {"updated_at": now}
            if status != conversation.status:
                updates.update(status=status, escalation_reason=None)
            if message.recipient and conversation.our_address is None:
                updates["our_address"] = message.recipient[:256]
            if message.subject and conversation.subject is None:
                updates["subject"] = message.subject[:512]
            update_conversation(conn, conversation.id, **updates)
        dropped_names = tuple(message.attachments[i].filename for i in sorted(dropped))
        return Receipt(
            conversation.id,
            message_id,
            False,
            created,
            queued,
            status,
            taken,
            conversation.status,
            dropped_names,
            stored_text=redacted,
        )

    def _within_quota(
        self, conn: sa.Connection, conversation_id: str, attachments: Sequence[Attachment], now: dt.datetime
    ) -> tuple[list[Attachment], dict[int, str]]:
        """The attachments to keep, and the reason each other one (by position) is dropped."""
        if self.quota is None or not attachments:
            return list(attachments), {}
        a, m = attachments_table.c, messages_table.c
        held = conn.execute(
            sa.select(sa.func.count())
            .select_from(attachments_table.join(messages_table, a.message_id == m.id))
            .where(m.conversation_id == conversation_id)
        ).scalar_one()
        stored = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(sa.func.length(a.content)), 0))
            .select_from(attachments_table.join(messages_table, a.message_id == m.id))
            .where(m.created_at > now - dt.timedelta(days=1), a.content.is_not(None))
        ).scalar_one()
        count, used = int(held), int(stored)
        kept: list[Attachment] = []
        dropped: dict[int, str] = {}
        for index, attachment in enumerate(attachments):
            size = len(attachment.content) if attachment.content is not None else 0
            if count >= self.quota.per_conversation:
                dropped[index] = f"this conversation keeps at most {self.quota.per_conversation} attachments"
            elif size and used + size > self.quota.bytes_per_day:
                dropped[index] = f"attachments may store at most {self.quota.bytes_per_day} bytes a day"
            else:
                kept.append(attachment)
                count += 1
                used += size
        return kept, dropped

    def _conversation_for(
        self, conn: sa.Connection, message: InboundMessage, now: dt.datetime
    ) -> tuple[Conversation, bool]:
        table = conversations_table
        if message.conversation_id is not None:
            row = conn.execute(sa.select(table).where(table.c.id == message.conversation_id)).first()
            if row is not None:
                found = conversation_from_row(row)
                if found.channel != message.channel:
                    msg = (
                        f"conversation {message.conversation_id!r} belongs to channel {found.channel!r}, "
                        f"not {message.channel!r}"
                    )
                    raise ValueError(msg)
                return found, False
            conversation_id = message.conversation_id
        else:
            for key in message.thread_keys:
                match = self._match(conn, message, key, now)
                if match is not None:
                    return match, False
            conversation_id = new_conversation_id(message.channel)
        created = insert_conversation(
            conn,
            conversation_id,
            channel=message.channel,
            customer_ref=message.sender[:256],
            now=now,
            our_address=message.recipient[:256] if message.recipient else None,
            subject=message.subject[:512] if message.subject else None,
        )
        return created, True

    def _match(
        self, conn: sa.Connection, message: InboundMessage, key: ThreadKey, now: dt.datetime
    ) -> Conversation | None:
        keys, table = conversation_keys_table.c, conversations_table
        query = (
            sa.select(table)
            .join(conversation_keys_table, keys.conversation_id == table.c.id)
            .where(keys.channel == message.channel, keys.key == key.value)
            .order_by(table.c.updated_at.desc())
        )
        if key.same_sender:
            query = query.where(table.c.customer_ref == message.sender[:256])
        if key.max_age is not None:
            query = query.where(table.c.updated_at >= now - key.max_age)
        if key.open_only:
            query = query.where(table.c.status != "resolved")
        row = conn.execute(query.limit(1)).first()
        return conversation_from_row(row) if row is not None else None

    def add_keys(self, channel: str, conversation_id: str, keys: Sequence[str]) -> None:
        """Record more keys on a conversation (a reply's own message id, a reply-to token)."""
        with self.engine.begin() as conn:
            record_keys(conn, channel, conversation_id, keys, _now())

    def keys(self, conversation_id: str) -> list[str]:
        """The keys recorded on a conversation, oldest first."""
        keys = conversation_keys_table.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(keys.key).where(keys.conversation_id == conversation_id).order_by(keys.id)
            ).scalars()
            return list(rows)

    def attachments(self, message_id: int) -> list[dict[str, Any]]:
        """The attachments of a message: name, type, size and URL (content is read separately)."""
        columns = attachments_table.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(columns.id, columns.filename, columns.content_type, columns.size, columns.url)
                .where(columns.message_id == message_id)
                .order_by(columns.id)
            )
            return [dict(row._mapping) for row in rows]

    # The queue of messages awaiting an answer.

    def waiting_conversations(self, limit: int = 50) -> list[str]:
        """Conversations with queued messages that no live worker holds, oldest first."""
        pending = pending_replies_table.c
        now = _now()
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(pending.conversation_id, sa.func.min(pending.message_id).label("first"))
                .where(sa.or_(pending.claimed_until.is_(None), pending.claimed_until < now))
                .group_by(pending.conversation_id)
                .order_by("first")
                .limit(limit)
            )
            return [row.conversation_id for row in rows]

    def claim(self, conversation_id: str) -> Claim | None:
        """Take every queued message of a conversation not held by a live worker, for one lease."""
        with self.engine.begin() as conn:
            return self._claim(conn, conversation_id, _now())

    def _claim(self, conn: sa.Connection, conversation_id: str, now: dt.datetime) -> Claim | None:
        pending = pending_replies_table.c
        token, until = uuid.uuid4().hex, now + self.lease
        conn.execute(
            sa.update(pending_replies_table)
            .where(
                pending.conversation_id == conversation_id,
                sa.or_(pending.claimed_until.is_(None), pending.claimed_until < now),
            )
            .values(claim=token, claimed_until=until, attempts=pending.attempts + 1)
        )
        ids = conn.execute(
            sa.select(pending.message_id).where(pending.claim == token).order_by(pending.message_id)
        ).scalars()
        message_ids = tuple(int(i) for i in ids)
        if not message_ids:
            return None
        return Claim(token, conversation_id, message_ids, until)

    def release(self, claim: Claim) -> None:
        """Give a claim back at once (the work failed and should be retried by anyone)."""
        pending = pending_replies_table.c
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(pending_replies_table).where(pending.claim == claim.token).values(claimed_until=None)
            )

    def pending_count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(pending_replies_table)).scalar_one())


def record_keys(conn: sa.Connection, channel: str, conversation_id: str, keys: Sequence[str], now: dt.datetime) -> None:
    """Record keys on a conversation inside an open transaction (keys it already has are skipped)."""
    wanted = [key[:512] for key in dict.fromkeys(keys) if key]
    if not wanted:
        return
    columns = conversation_keys_table.c
    have = set(
        conn.execute(
            sa.select(columns.key).where(
                columns.channel == channel, columns.conversation_id == conversation_id, columns.key.in_(wanted)
            )
        ).scalars()
    )
    for key in wanted:
        if key not in have:
            conn.execute(
                sa.insert(conversation_keys_table).values(
                    channel=channel, key=key, conversation_id=conversation_id, created_at=now
                )
            )


def _attachment_summary(message: InboundMessage) -> str:
    names = ", ".join(a.filename for a in message.attachments)
    return f"[attachments: {names}]"
