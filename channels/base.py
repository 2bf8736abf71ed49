"""The one interface every channel implements, its errors, and a collecting channel for tests and demos."""

from __future__ import annotations

import datetime as dt
from typing import Protocol, runtime_checkable

from channels.messages import Delivery, OutboundMessage


class ChannelError(Exception):
    """Base of the channel errors."""


class DeliveryError(ChannelError):
    """The provider did not take a message.

    `retryable` says whether trying again later may succeed (a provider outage, a timeout, a rate limit)
    or not (an invalid number, a blocked recipient, a closed messaging window). `code` is the provider's
    error code when it gave one.
    """

    def __init__(self, reason: str, *, retryable: bool, code: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.code = code


class SignatureError(ChannelError):
    """A provider request whose signature is missing or wrong (answered with 403)."""


@runtime_checkable
class Channel(Protocol):
    """Delivers replies on one channel. Inbound traffic reaches the inbox through the channel's own routes
    (webhooks, WebSocket, SMTP), which turn it into `InboundMessage`s."""

    @property
    def name(self) -> str:
        """The channel's name as conversations record it (`webchat`, `whatsapp`, `sms`, `voice`, `email`)."""
        ...

    async def send(self, message: OutboundMessage) -> Delivery:
        """Deliver one reply; raise `DeliveryError` when the provider does not take it."""
        ...

    async def find_delivered(self, message: OutboundMessage, since: dt.datetime) -> Delivery | None:
        """After a crash in the middle of `send`, the provider's record of this reply if it did take it
        (so the outbox does not send it twice), or None when it has no record or cannot tell."""
        ...


class CollectingChannel:
    """A channel that keeps what it is asked to send: the test fake, and a sink for channels without a
    provider. `fail_next` makes the next sends fail, to exercise retries."""

    def __init__(self, name: str = "collect") -> None:
        self._name = name
        self.sent: list[OutboundMessage] = []
        self.fail_next = 0
        self.fail_retryable = True

    @property
    def name(self) -> str:
        return self._name

    async def send(self, message: OutboundMessage) -> Delivery:
        if self.fail_next > 0:
            self.fail_next -= 1
            msg = f"{self._name}: refused {message.message_id} (test failure)"
            raise DeliveryError(msg, retryable=self.fail_retryable, code="test")
        self.sent.append(message)
        return Delivery(provider_message_ids=(f"{self._name}-{len(self.sent)}",))

    async def find_delivered(self, message: OutboundMessage, since: dt.datetime) -> Delivery | None:
        for index, sent in enumerate(self.sent, start=1):
            if sent.message_id == message.message_id:
                return Delivery(provider_message_ids=(f"{self._name}-{index}",))
        return None
