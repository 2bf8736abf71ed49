"""A hand-over point from any thread to one asyncio task: routing's listener runs wherever the router was
called (a worker thread, the event loop), and must never wait; the console's tasks take what it left."""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import Generic, TypeVar

import anyio

from conversations.outbox import wake_up

T = TypeVar("T")


class ThreadSafeFeed(Generic[T]):
    """Items put from any thread, taken in batches by one task; beyond `limit` waiting items the oldest are
    dropped (and counted), so a stuck consumer never holds up the producers."""

    def __init__(self, *, limit: int = 10_000) -> None:
        if limit < 1:
            msg = f"limit must be at least 1, got {limit}"
            raise ValueError(msg)
        self.limit = limit
        self.dropped = 0
        self._items: deque[T] = deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = anyio.Event()

    def put(self, item: T) -> None:
        """Leave an item (never blocks)."""
        with self._lock:
            if len(self._items) >= self.limit:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
        wake_up(self._loop, self._wake)

    async def take(self) -> list[T]:
        """Wait until there is something, then everything there is, oldest first."""
        self._loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                if self._items:
                    items = list(self._items)
                    self._items.clear()
                    return items
                self._wake = anyio.Event()
            await self._wake.wait()
