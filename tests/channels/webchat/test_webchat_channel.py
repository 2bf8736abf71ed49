"""`WebchatChannel`: the channel contract, and what a visitor's windows receive for each kind of reply."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from contracts.channel import ChannelContract
from fakes.webchat import Window

from channels.messages import Link, OutboundMessage
from channels.webchat import WebchatChannel, WebchatHub
from channels.webchat.channel import OFFLINE_NOTE


def _reply(
    author: str = "human", text: str = "Hi, this is Sam from Northwind.", key: str = "human-7"
) -> OutboundMessage:
    return OutboundMessage(
        message_id=key,
        conversation_id="webchat-1",
        channel="webchat",
        recipient="visitor-1",
        text=text,
        author=author,  # type: ignore[arg-type]
        citations=(Link("Store locations", "https://help.example/stores"),),
    )


class TestWebchatChannelWithAnOpenWindow(ChannelContract):
    expected_name = "webchat"

    @pytest.fixture
    def channel(self) -> Iterator[WebchatChannel]:
        hub = WebchatHub()
        with hub.attach("webchat-1", Window()):
            yield WebchatChannel(hub)

    @pytest.fixture
    def message(self) -> OutboundMessage:
        return _reply()


class TestWebchatChannelWithNoWindowOpen(ChannelContract):
    expected_name = "webchat"

    @pytest.fixture
    def channel(self) -> WebchatChannel:
        return WebchatChannel(WebchatHub())

    @pytest.fixture
    def message(self) -> OutboundMessage:
        return _reply()


@pytest.mark.parametrize(
    ("author", "kind", "text"),
    [
        ("human", "human_message", "Hi, this is Sam [1] from Northwind."),
        ("agent", "agent_message", "Hi, this is Sam from Northwind."),
        ("system", "notice", "Hi, this is Sam [1] from Northwind."),
    ],
)
async def test_each_window_gets_the_reply_as_its_author_wrote_it(author: str, kind: str, text: str) -> None:
    hub = WebchatHub()
    windows = [Window(), Window()]
    channel = WebchatChannel(hub)
    with hub.attach("webchat-1", windows[0]), hub.attach("webchat-1", windows[1]):
        delivery = await channel.send(_reply(author, "Hi, this is Sam [1] from Northwind.", f"{author}-1"))
    assert delivery.note == "shown in 2 open chat windows"
    assert delivery.provider_message_ids == (f"webchat:{author}-1",)
    for window in windows:
        [frame] = window.frames
        assert frame == {
            "type": kind,
            "message_id": f"{author}-1",
            "text": text,
            "citations": [{"title": "Store locations", "url": "https://help.example/stores"}],
        }


async def test_a_reply_to_a_visitor_who_left_is_delivered_to_the_history() -> None:
    delivery = await WebchatChannel(WebchatHub()).send(_reply())
    assert delivery.note == OFFLINE_NOTE


def test_the_channel_needs_a_name() -> None:
    with pytest.raises(ValueError, match="needs a name"):
        WebchatChannel(WebchatHub(), name="")
