"""The console's live feed: each signed-in agent's page holds a WebSocket, and the hub keeps it current.

Three sources feed it, all in this process:

- routing events (`on_event`, subscribed to the runtime's `RoutingEvents`): an agent's own offers, accepts,
  transfers, hand-backs, resolutions and status changes reach them at once as an `event` frame followed by
  a fresh `state`; supervisors get a fresh `state` (with every queue) on every ticket event;
- new messages: every `poll_seconds` (1 s) one query reads the messages stored since the last look, in any
  worker, and pushes each as a `message` frame to the agent who holds (or is offered) the conversation and
  to every page that has it open (`watch`);
- a periodic refresh: every `refresh_seconds` (3 s) each page gets its `state` again when it changed, so
  offers, conversations and queues changed by another worker process show within that time; the refresh
  also closes pages whose session ended (signed out elsewhere, disabled, expired).

A `state` frame is only sent when it differs from the page's last one (ignoring the countdowns, which the
page computes from the absolute times and the server's `now`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
import sqlalchemy as sa

from conversations.store import StoredMessage, messages_table
from frontdesk.console.feed import ThreadSafeFeed
from frontdesk.console.service import Actor, ConsoleService
from frontdesk.console.sessions import SessionStore
from frontdesk.console.views import event_json, message_json, when
from routing import EventKind, RoutingError, RoutingEvent

logger = logging.getLogger(__name__)

Frame = dict[str, Any]
COUNTDOWNS = frozenset({"expires_in_seconds", "sla_remaining_seconds", "waited_seconds", "longest_wait_seconds"})
SEEN = 1000  # message ids remembered as pushed (and read at most per poll)
LOOKBACK = 200  # ids below the high-water mark read again: PostgreSQL may commit a lower id after a higher one
SESSION_ENDED = 4401


class AgentSocket(Protocol):
    """One console page's WebSocket."""

    async def send(self, frame: Frame) -> None:
        """Send one frame; raise `ConnectionError` when the page is gone."""
        ...

    async def close(self, code: int, reason: str) -> None:
        """Close the socket with a code the page recognises."""
        ...


@dataclass(eq=False)
class Page:
    """A signed-in agent's open console page."""

    actor: Actor
    socket: AgentSocket
    watching: set[str] = field(default_factory=set)
    digest: str | None = None


def _digest(state: Frame) -> str:
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in COUNTDOWNS and k != "at"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return hashlib.sha256(json.dumps(strip(state), sort_keys=True, default=str).encode()).hexdigest()


class ConsoleHub:
    """Keeps every open console page of this process current (see the module docstring)."""

    def __init__(
        self,
        service: ConsoleService,
        sessions: SessionStore,
        *,
        refresh_seconds: float = 3.0,
        poll_seconds: float = 1.0,
        send_timeout: float = 5.0,
    ) -> None:
        if refresh_seconds <= 0 or poll_seconds <= 0 or send_timeout <= 0:
            msg = f"intervals must be positive, got {refresh_seconds=}, {poll_seconds=}, {send_timeout=}"
            raise ValueError(msg)
        self.service = service
        self.sessions = sessions
        self.refresh_seconds = refresh_seconds
        self.poll_seconds = poll_seconds
        self.send_timeout = send_timeout
        self.pages: list[Page] = []
        self._events: ThreadSafeFeed[RoutingEvent] = ThreadSafeFeed()
        self._high_water: int | None = None
        self._seen: OrderedDict[int, None] = OrderedDict()

    # -- pages ---------------------------------------------------------------------------------------------

    @contextmanager
    def attach(self, page: Page) -> Iterator[Page]:
        """Keep the page in the feed for the duration of the block."""
        self.pages.append(page)
        try:
            yield page
        finally:
            if page in self.pages:  # a page that failed a send was dropped already
                self.pages.remove(page)

    async def watch(self, page: Page, conversation_id: str) -> bool:
        """Open a conversation on the page (its new messages are pushed); False when the agent may not see it."""
        allowed = await anyio.to_thread.run_sync(self.service.may_view, page.actor, conversation_id)
        if allowed:
            page.watching = {conversation_id}
        return allowed

    async def send(self, page: Page, frame: Frame) -> bool:
        """Send one frame; False (and the page is dropped from the feed) when it is gone or too slow."""
        with anyio.move_on_after(self.send_timeout):
            try:
                await page.socket.send(frame)
            except (ConnectionError, RuntimeError, OSError):
                pass
            else:
                return True
        if page in self.pages:
            self.pages.remove(page)
        return False

    async def push_state(self, page: Page, *, force: bool = False) -> None:
        """Send the page's agent their state when it changed since the last one sent (or always, `force`)."""
        try:
            state = await anyio.to_thread.run_sync(self.service.state, page.actor)
        except RoutingError as exc:  # the agent was removed from routing
            await page.socket.close(SESSION_ENDED, str(exc)[:120])
            return
        digest = _digest(state)
        if force or digest != page.digest:
            page.digest = digest
            await self.send(page, {"type": "state", "now": when(self.service.now()), **state})

    # -- sources -------------------------------------------------------------------------------------------

    def on_event(self, event: RoutingEvent) -> None:
        """Routing listener (any thread, never blocks): queue the event for the feed."""
        self._events.put(event)

    async def run(self) -> None:
        """Feed the pages until cancelled."""
        async with anyio.create_task_group() as group:
            group.start_soon(self._event_loop)
            group.start_soon(self._refresh_loop)
            group.start_soon(self._message_loop)

    async def _event_loop(self) -> None:
        while True:
            events = await self._events.take()
            try:
                await self.dispatch(events)
            except Exception:  # the feed must outlive a bad batch; the periodic refresh catches up
                logger.exception("the console feed could not dispatch %d routing events", len(events))

    async def dispatch(self, events: list[RoutingEvent]) -> None:
        """Tell each page of the events that concern its agent, then refresh the state of those pages."""
        stale: list[Page] = []
        for page in list(self.pages):
            mine = [event for event in events if _concerns(page.actor.id, event)]
            for event in mine:
                await self.send(page, {"type": "event", "event": event_json(event)})
            opened = {event.conversation_id for event in events} & page.watching
            for conversation_id in opened:
                await self.send(page, {"type": "conversation_changed", "conversation_id": conversation_id})
            ticket_events = any(event.kind is not EventKind.STATUS_CHANGED for event in events)
            if mine or opened or (page.actor.supervises and ticket_events):
                stale.append(page)
        for page in stale:
            await self.push_state(page)

    async def _refresh_loop(self) -> None:
        while True:
            await anyio.sleep(self.refresh_seconds)
            for page in list(self.pages):
                try:
                    await self.refresh(page)
                except Exception:
                    logger.exception("the console page of %s could not be refreshed", page.actor.id)

    async def refresh(self, page: Page) -> None:
        """Close the page if its session ended; otherwise send its state if it changed."""
        session = page.actor.session
        if session is not None and not await anyio.to_thread.run_sync(self.sessions.still_open, session):
            await self.send(page, {"type": "error", "code": "signed_out", "reason": "your session ended"})
            await page.socket.close(SESSION_ENDED, "session ended")
            if page in self.pages:
                self.pages.remove(page)
            return
        await self.push_state(page)

    async def _message_loop(self) -> None:
        while True:
            try:
                await self.poll_messages()
            except Exception:
                logger.exception("the console could not read new messages")
            await anyio.sleep(self.poll_seconds)

    async def poll_messages(self) -> int:
        """Push the messages stored since the last look to the pages that hold or watch their conversations;
        how many were new."""
        fresh = await anyio.to_thread.run_sync(self._new_messages)
        for message in fresh:
            holder = await anyio.to_thread.run_sync(self.service.holder, message.conversation_id)
            frame = {"type": "message", "conversation_id": message.conversation_id, "message": message_json(message)}
            for page in list(self.pages):
                if message.conversation_id in page.watching or page.actor.id == holder:
                    await self.send(page, frame)
                    if page.actor.id == holder:
                        await self.push_state(page)
        return len(fresh)

    def _new_messages(self) -> list[StoredMessage]:
        m = messages_table.c
        engine = self.service.inbox.store.engine
        with engine.connect() as conn:
            if self._high_water is None:  # start from now: what was stored before is loaded with each page
                top = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(m.id), 0))).scalar_one())
                for old in conn.execute(sa.select(m.id).where(m.id > top - LOOKBACK)).scalars():
                    self._remember(int(old))
                self._high_water = top
                return []
            ids = [
                int(found)
                for found in conn.execute(
                    sa.select(m.id).where(m.id > self._high_water - LOOKBACK).order_by(m.id).limit(SEEN)
                ).scalars()
            ]
        fresh = [message_id for message_id in ids if message_id not in self._seen]
        for message_id in fresh:
            self._remember(message_id)
        if ids:
            self._high_water = max(self._high_water, ids[-1])
        return self.service.inbox.store.messages_by_id(fresh) if fresh else []

    def _remember(self, message_id: int) -> None:
        self._seen[message_id] = None
        while len(self._seen) > SEEN + LOOKBACK:
            self._seen.popitem(last=False)


def _concerns(agent_id: str, event: RoutingEvent) -> bool:
    return agent_id in (event.agent_id, event.from_agent) or agent_id in event.notify
