"""The hub: frames reach every open window of a conversation, and only those; dead windows are dropped."""

from __future__ import annotations

import pytest
from fakes.webchat import Window

from channels.webchat.hub import WebchatHub


async def test_a_frame_reaches_every_window_of_its_conversation_only() -> None:
    hub = WebchatHub()
    first, second, stranger = Window(), Window(), Window()
    with hub.attach("c-1", first), hub.attach("c-1", second), hub.attach("c-2", stranger):
        assert hub.connections("c-1") == 2
        assert await hub.push("c-1", {"type": "typing"}) == 2
    assert first.frames == second.frames == [{"type": "typing"}]
    assert stranger.frames == []
    assert hub.connections("c-1") == 0, "windows are detached when their block ends"
    assert await hub.push("c-1", {"type": "typing"}) == 0


async def test_a_closed_window_is_dropped_and_the_others_still_get_the_frame() -> None:
    hub = WebchatHub()
    dead, alive = Window(), Window()
    dead.closed = True
    with hub.attach("c-1", dead), hub.attach("c-1", alive):
        assert await hub.push("c-1", {"type": "delta", "text": "Hi"}) == 1
        assert hub.connections("c-1") == 1
    assert alive.frames == [{"type": "delta", "text": "Hi"}]


async def test_a_stalled_window_does_not_hold_up_the_conversation() -> None:
    hub = WebchatHub(send_timeout=0.05)
    stalled, alive = Window(), Window()
    stalled.stalled = True
    with hub.attach("c-1", stalled), hub.attach("c-1", alive):
        assert await hub.push("c-1", {"type": "reply"}) == 1
        assert hub.connections("c-1") == 1


async def test_typing_and_deliveries_are_remembered_within_bounds() -> None:
    hub = WebchatHub(remembered_deliveries=2)
    with hub.attach("c-1", Window()):
        hub.visitor_typing("c-1")
        assert hub.visitor_typed_at("c-1") is not None
    assert hub.visitor_typed_at("c-1") is None, "forgotten when the visitor leaves"
    for key in ("a", "b", "c"):
        hub.remember_delivery(key, 1)
    assert hub.delivered_to("a") is None and hub.delivered_to("c") == 1


def test_the_send_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="send_timeout must be positive"):
        WebchatHub(send_timeout=0)
