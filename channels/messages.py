"""The messages every channel speaks: what a customer sent (`InboundMessage`) and what goes back (`OutboundMessage`).

A channel adapter turns its provider's traffic into an `InboundMessage` and hands it to the inbox; the inbox
finds the conversation by the message's `thread_keys`, stores the message and later gives the adapter an
`OutboundMessage` to deliver. Rich content degrades to text: every outbound message carries plain text with
light Markdown and its citations as links, and each channel renders what its medium can show.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Author = Literal["agent", "human", "system"]


def utc_now() -> dt.datetime:
    """The current time, timezone-aware in UTC."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file that came with a message (kept by the inbox) or a link to media held by the provider."""

    filename: str
    content_type: str
    size: int
    content: bytes | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        if self.size < 0:
            msg = f"an attachment's size cannot be negative, got {self.size}"
            raise ValueError(msg)
        if self.content is None and self.url is None:
            msg = f"attachment {self.filename!r} has neither content nor a URL"
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class ThreadKey:
    """A key that ties a message to an earlier conversation on the same channel.

    Keys are tried in the order the message lists them. A key matches a conversation that recorded it, if
    `same_sender` is false or the conversation's customer is the message's sender, if `max_age` is None or the
    conversation was active within it, and if `open_only` is false or the conversation is not resolved.
    """

    value: str
    same_sender: bool = True
    max_age: dt.timedelta | None = None
    open_only: bool = False

    def __post_init__(self) -> None:
        if not self.value or len(self.value) > 512:
            msg = f"a thread key must have 1 to 512 characters, got {len(self.value)}"
            raise ValueError(msg)
        if self.max_age is not None and self.max_age <= dt.timedelta(0):
            msg = f"a thread key's max_age must be positive, got {self.max_age}"
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A customer's message as it arrived on a channel.

    `sender` is the customer's address on the channel (a phone number, an e-mail address, a visitor id):
    replies go back to it. `provider_message_id` makes delivery idempotent: a provider retrying the same
    message is recognised. `conversation_id` is set when the channel already knows the conversation (web
    chat); otherwise `thread_keys` find it (the first that matches wins). `record_keys` are the key values the
    conversation records for later messages (an e-mail's own Message-ID, say); keys a message merely refers
    to are looked up but not recorded, so that two customers replying to the same newsletter stay apart.
    """

    channel: str
    sender: str
    text: str
    provider_message_id: str | None = None
    conversation_id: str | None = None
    thread_keys: tuple[ThreadKey, ...] = ()
    record_keys: tuple[str, ...] = ()
    recipient: str | None = None
    subject: str | None = None
    sender_name: str | None = None
    attachments: tuple[Attachment, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)
    received_at: dt.datetime = field(default_factory=utc_now)

    def __post_init__(self) -> None:
        if not self.channel:
            msg = "an inbound message needs a channel name"
            raise ValueError(msg)
        if not self.sender:
            msg = f"an inbound message on {self.channel!r} needs a sender"
            raise ValueError(msg)
        if not self.text.strip() and not self.attachments:
            msg = f"the message from {self.sender!r} on {self.channel!r} has neither text nor attachments"
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class Link:
    """A source cited by a reply: its title and, when it has one, its address."""

    title: str
    url: str | None = None


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """A reply to deliver on the conversation's channel.

    `message_id` is stable for this reply across retries (the outbox's key), so a channel can make a resend
    recognisable (an e-mail's Message-ID). `in_reply_to` and `references` are the provider ids of earlier
    messages in the thread, for channels that thread by them. `text` may hold light Markdown (`**bold**`,
    `[title](url)`, lists); channels that cannot show it get it rendered or stripped.
    """

    message_id: str
    conversation_id: str
    channel: str
    recipient: str
    text: str
    author: Author = "agent"
    sender: str | None = None
    subject: str | None = None
    citations: tuple[Link, ...] = ()
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.text.strip():
            msg = f"the reply {self.message_id!r} to {self.recipient!r} is empty"
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class Delivery:
    """What the provider said when it took a message: its id(s) for the message (one per part when the
    channel split a long reply) and the thread keys that a customer's reply to it will carry."""

    provider_message_ids: tuple[str, ...] = ()
    thread_keys: tuple[ThreadKey, ...] = ()
    note: str | None = None
