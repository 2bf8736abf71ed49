"""The contract every `Channel` passes: subclass `ChannelContract` and provide the `channel` and `message`
fixtures (a reply the channel can deliver)."""

from __future__ import annotations

import datetime as dt

import pytest

from channels.base import Channel
from channels.messages import Delivery, OutboundMessage


class ChannelContract:
    """What the outbox relies on from any channel."""

    expected_name: str

    @pytest.fixture
    def since(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)

    def test_is_a_channel_with_its_name(self, channel: Channel) -> None:
        assert isinstance(channel, Channel)
        assert channel.name == self.expected_name

    async def test_send_returns_a_delivery(self, channel: Channel, message: OutboundMessage) -> None:
        delivery = await channel.send(message)
        assert isinstance(delivery, Delivery)
        assert all(isinstance(i, str) and i for i in delivery.provider_message_ids)

    async def test_an_unsent_reply_is_not_found(
        self, channel: Channel, message: OutboundMessage, since: dt.datetime
    ) -> None:
        assert await channel.find_delivered(message, since) is None

    # A provider that cannot tell whether it took a message overrides this test and says so.
    async def test_a_sent_reply_is_found_after_a_crash(
        self, channel: Channel, message: OutboundMessage, since: dt.datetime
    ) -> None:
        sent = await channel.send(message)
        found = await channel.find_delivered(message, since)
        assert isinstance(found, Delivery)
        assert found.provider_message_ids == sent.provider_message_ids
