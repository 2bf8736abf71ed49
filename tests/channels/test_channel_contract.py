"""The collecting channel (the test fake every other test relies on) passes the channel contract."""

from __future__ import annotations

import pytest
from contracts.channel import ChannelContract

from channels.base import CollectingChannel
from channels.messages import OutboundMessage


class TestCollectingChannel(ChannelContract):
    expected_name = "collect"

    @pytest.fixture
    def channel(self) -> CollectingChannel:
        return CollectingChannel()

    @pytest.fixture
    def message(self) -> OutboundMessage:
        return OutboundMessage(message_id="m-1", conversation_id="c-1", channel="collect", recipient="r", text="Hi")
