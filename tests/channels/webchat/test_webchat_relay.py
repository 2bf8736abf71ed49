"""The relay between workers: through the machine's Redis, a frame published by one worker reaches the windows
every worker holds, once each; with Redis down, publishing fails retryably (the outbox tries again)."""

from __future__ import annotations

import datetime as dt
import uuid

import anyio
import pytest
from fakes.webchat import Window

from channels.base import DeliveryError
from channels.messages import OutboundMessage
from channels.webchat.channel import RELAYED_NOTE, WebchatChannel
from channels.webchat.hub import WebchatHub
from channels.webchat.relay import LocalRelay, RedisRelay


async def _wait_for(condition: object, seconds: float = 5.0) -> None:
    with anyio.fail_after(seconds):
        while not condition():  # type: ignore[operator]
            await anyio.sleep(0.01)


async def test_a_frame_published_by_one_worker_reaches_windows_on_every_worker(redis_url: str) -> None:
    channel = f"frontdesk:test:{uuid.uuid4().hex}"
    hub_a, hub_b = WebchatHub(), WebchatHub()
    relay_a, relay_b = RedisRelay(hub_a, redis_url, channel=channel), RedisRelay(hub_b, redis_url, channel=channel)
    on_a, on_b, elsewhere = Window(), Window(), Window()
    async with anyio.create_task_group() as group:
        group.start_soon(relay_a.run)
        group.start_soon(relay_b.run)
        await relay_a.subscribed.wait()
        await relay_b.subscribed.wait()
        with hub_a.attach("c-1", on_a), hub_b.attach("c-1", on_b), hub_b.attach("c-2", elsewhere):
            web = WebchatChannel(hub_a, relay=relay_a)  # worker A's outbox delivers a person's reply
            reply = OutboundMessage(
                message_id="human-1",
                conversation_id="c-1",
                channel="webchat",
                recipient="v",
                text="Hi!",
                author="human",
            )
            delivery = await web.send(reply)
            await _wait_for(lambda: on_a.frames and on_b.frames)
            await anyio.sleep(0.1)  # nothing else arrives
        group.cancel_scope.cancel()
    assert [f["text"] for f in on_a.frames] == ["Hi!"] and [f["text"] for f in on_b.frames] == ["Hi!"]
    assert on_b.frames[0]["type"] == "human_message"
    assert elsewhere.frames == []
    assert delivery.note == RELAYED_NOTE
    assert await web.find_delivered(reply, dt.datetime.now(dt.UTC)) is not None, "not published twice"
    await relay_a.aclose()
    await relay_b.aclose()


async def test_with_redis_down_publishing_fails_retryably() -> None:
    relay = RedisRelay(WebchatHub(), "redis://127.0.0.1:1/0")
    with pytest.raises(DeliveryError) as caught:
        await relay.publish("c-1", {"type": "typing"})
    assert caught.value.retryable and caught.value.code == "relay_unavailable"
    await relay.aclose()


async def test_the_local_relay_is_the_hub() -> None:
    hub = WebchatHub()
    window = Window()
    with hub.attach("c-1", window):
        assert await LocalRelay(hub).publish("c-1", {"type": "typing"}) == 1
    assert window.frames == [{"type": "typing"}]
