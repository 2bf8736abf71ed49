"""Frames for a conversation's open windows, across API worker processes.

A visitor's WebSocket is held by one worker, but a reply for them may be written by another (a person
answering on the console, the outbox worker of another process). With one worker the hub pushes frames
itself (`LocalRelay`). With several, every worker publishes each frame on a Redis pub/sub channel and every
worker, the publisher included, pushes what it receives to the windows it holds (`RedisRelay`), so a frame
reaches each window exactly once.

Pub/sub keeps nothing: a worker that is disconnected from Redis misses the frames published meanwhile, and
its windows catch up from the conversation's history when they reconnect (the widget reloads it then). The
replies themselves are never lost: they are stored before they are published.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

import anyio

from channels.base import DeliveryError
from channels.webchat.hub import Frame, WebchatHub

logger = logging.getLogger(__name__)

REDIS_CHANNEL = "frontdesk:webchat"


class Relay(Protocol):
    """Carries frames to the windows open on a conversation, wherever they are connected."""

    async def publish(self, conversation_id: str, frame: Frame) -> int | None:
        """Send `frame` to every window open on the conversation; how many took it when known (one process),
        None when other processes deliver it too. Raises `DeliveryError` when the frame could not be sent."""
        ...

    async def run(self) -> None:
        """Receive what other processes publish, until cancelled (nothing to do for one process)."""
        ...


class LocalRelay:
    """One process: frames go straight to the hub."""

    def __init__(self, hub: WebchatHub) -> None:
        self.hub = hub

    async def publish(self, conversation_id: str, frame: Frame) -> int | None:
        return await self.hub.push(conversation_id, frame)

    async def run(self) -> None:
        await anyio.sleep_forever()


class RedisRelay:
    """Several processes: frames travel through a Redis pub/sub channel to every process's hub."""

    def __init__(
        self, hub: WebchatHub, url: str, *, channel: str = REDIS_CHANNEL, reconnect_seconds: float = 1.0
    ) -> None:
        from redis.asyncio import Redis

        if reconnect_seconds <= 0:
            msg = f"reconnect_seconds must be positive, got {reconnect_seconds}"
            raise ValueError(msg)
        self.hub = hub
        self.channel = channel
        self.reconnect_seconds = reconnect_seconds
        self._redis: Any = Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
        self.subscribed = anyio.Event()

    async def publish(self, conversation_id: str, frame: Frame) -> int | None:
        from redis.exceptions import RedisError

        payload = json.dumps({"conversation": conversation_id, "frame": frame}, separators=(",", ":"))
        try:
            await self._redis.publish(self.channel, payload)
        except (RedisError, OSError) as exc:
            msg = f"could not publish to Redis channel {self.channel!r}: {exc}"
            raise DeliveryError(msg, retryable=True, code="relay_unavailable") from exc
        return None

    async def run(self) -> None:
        """Subscribe and push what arrives to this process's windows; reconnect after a failure."""
        from redis.exceptions import RedisError

        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    self.subscribed.set()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            await self._deliver(message["data"])
            except (RedisError, OSError) as exc:
                logger.warning("the web chat relay lost Redis (%s); reconnecting", exc)
                await anyio.sleep(self.reconnect_seconds)

    async def _deliver(self, data: bytes | str) -> None:
        try:
            envelope = json.loads(data)
            conversation_id, frame = str(envelope["conversation"]), dict(envelope["frame"])
        except (ValueError, KeyError, TypeError):
            logger.warning("ignoring a malformed web chat relay message: %.200r", data)
            return
        await self.hub.push(conversation_id, frame)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()
