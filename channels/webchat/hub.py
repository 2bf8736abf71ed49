"""The live side of the web chat: which browser windows are connected to which conversation.

Every frame about a conversation (an answer being written, a person's reply, a change of status) is pushed
to all the windows the visitor has open on it. A window that does not take a frame within `send_timeout`
or whose peer is gone is dropped; the widget reconnects and redraws from the history, so nothing is lost.

The hub lives in one process. With several API workers, a reply delivered by one worker reaches only the
windows connected to it; the others see it when they next load the history (fan-out between workers through
PostgreSQL LISTEN/NOTIFY or Redis is the next step, see ARCHITECTURE.md).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import OrderedDict, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import anyio

from channels.base import ChannelError
from channels.messages import utc_now

logger = logging.getLogger(__name__)

Frame = dict[str, Any]


class ConnectionGone(ChannelError):
    """The browser window behind a connection went away."""


class Connection(Protocol):
    """One open browser window (a WebSocket)."""

    async def send(self, frame: Frame) -> None:
        """Send one frame; raise `ConnectionGone` when the peer is gone."""
        ...


class WebchatHub:
    """Tracks the open connections of each conversation and pushes frames to them."""

    def __init__(self, *, send_timeout: float = 5.0, remembered_deliveries: int = 10_000) -> None:
        if send_timeout <= 0:
            msg = f"send_timeout must be positive, got {send_timeout}"
            raise ValueError(msg)
        self.send_timeout = send_timeout
        self._connections: dict[str, list[Connection]] = defaultdict(list)
        self._typing: dict[str, dt.datetime] = {}
        self._delivered: OrderedDict[str, int] = OrderedDict()
        self._remembered = remembered_deliveries

    @contextmanager
    def attach(self, conversation_id: str, connection: Connection) -> Iterator[None]:
        """Keep `connection` attached to the conversation for the duration of the block."""
        self._connections[conversation_id].append(connection)
        try:
            yield
        finally:
            self._detach(conversation_id, connection)

    def _detach(self, conversation_id: str, connection: Connection) -> None:
        attached = self._connections.get(conversation_id)
        if attached is None:
            return
        if connection in attached:
            attached.remove(connection)
        if not attached:
            del self._connections[conversation_id]
            self._typing.pop(conversation_id, None)

    def connections(self, conversation_id: str) -> int:
        """How many windows are open on the conversation."""
        return len(self._connections.get(conversation_id, ()))

    async def push(self, conversation_id: str, frame: Frame) -> int:
        """Send `frame` to every window open on the conversation; return how many took it."""
        taken = 0
        for connection in list(self._connections.get(conversation_id, ())):
            try:
                with anyio.fail_after(self.send_timeout):
                    await connection.send(frame)
            except (ConnectionGone, TimeoutError) as exc:
                logger.info("dropping a web chat window of %s: %s", conversation_id, exc or "send timed out")
                self._detach(conversation_id, connection)
                continue
            taken += 1
        return taken

    def visitor_typing(self, conversation_id: str) -> None:
        """Note that the visitor is typing (for the agent console)."""
        self._typing[conversation_id] = utc_now()

    def visitor_typed_at(self, conversation_id: str) -> dt.datetime | None:
        """When the visitor last said they were typing, while a window is open."""
        return self._typing.get(conversation_id)

    def remember_delivery(self, message_id: str, windows: int) -> None:
        """Record that reply `message_id` reached `windows` windows (bounded memory, oldest forgotten)."""
        self._delivered[message_id] = windows
        self._delivered.move_to_end(message_id)
        while len(self._delivered) > self._remembered:
            self._delivered.popitem(last=False)

    def delivered_to(self, message_id: str) -> int | None:
        """How many windows reply `message_id` reached, if this process delivered it."""
        return self._delivered.get(message_id)
