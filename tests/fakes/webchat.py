"""A browser window on the web chat, as a small honest fake of a WebSocket connection."""

from __future__ import annotations

from typing import Any

import anyio

from channels.webchat.hub import ConnectionGone


class Window:
    """An open browser window that keeps the frames it is sent; `closed` makes it fail as a dead socket
    does, `stalled` makes it hang as a window on a frozen network does."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.closed = False
        self.stalled = False

    async def send(self, frame: dict[str, Any]) -> None:
        if self.closed:
            msg = "the window closed"
            raise ConnectionGone(msg)
        if self.stalled:
            await anyio.sleep(60)
        self.frames.append(frame)
