"""The console's WebSocket: one per open console page, authenticated by the session cookie, with an `Origin`
that must be this service's (a page on another site cannot open it with the agent's cookie).

Frames to the page: `state` (me, offers, my conversations, queues for supervisors), `event` (a routing event
about me), `message` (a new message on a conversation I hold or have open), `conversation_changed` (its
ticket moved), `error`. Frames from the page: `{"type": "watch", "conversation_id": ...}` to follow an open
conversation, `{"type": "ping"}`. Closing codes: 4401 (no session, or it ended), 4403 (foreign origin).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import anyio
from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from frontdesk.api.console_deps import COOKIE, Console, same_origin
from frontdesk.console.live import Page
from frontdesk.console.service import Actor
from routing import NotFoundError

logger = logging.getLogger(__name__)

router = APIRouter()


class ConsoleSocket:
    """A console page's WebSocket: frames are sent one at a time."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self._lock = anyio.Lock()

    async def send(self, frame: dict[str, Any]) -> None:
        """Send one frame; `ConnectionError` when the page is gone."""
        if self.websocket.application_state != WebSocketState.CONNECTED:
            msg = "the console page closed"
            raise ConnectionError(msg)
        async with self._lock:
            try:
                await self.websocket.send_text(json.dumps(frame, ensure_ascii=False, default=str))
            except (WebSocketDisconnect, RuntimeError, OSError) as exc:
                msg = f"the console page closed ({type(exc).__name__})"
                raise ConnectionError(msg) from exc

    async def close(self, code: int, reason: str) -> None:
        """Close with a code the page recognises (nothing when it is closed already)."""
        if self.websocket.application_state == WebSocketState.CONNECTED:
            try:
                await self.websocket.close(code, reason)
            except (RuntimeError, OSError):
                return


async def _refuse(socket: ConsoleSocket, code: int, reason: str) -> None:
    try:
        await socket.send({"type": "error", "code": "forbidden" if code == 4403 else "unauthorized", "reason": reason})
    except ConnectionError:
        return
    await socket.close(code, reason[:120])


@router.websocket("/ws")
async def console_socket(websocket: WebSocket) -> None:
    """The live feed of one console page (see the module docstring)."""
    await websocket.accept()
    socket = ConsoleSocket(websocket)
    console: Console | None = getattr(websocket.app.state, "console", None)
    if console is None:
        await _refuse(socket, 4401, "the agent console is not available (no routing)")
        return
    if not same_origin(websocket, console, required=True):
        await _refuse(socket, 4403, f"origin {websocket.headers.get('origin')!r} may not open the console feed")
        return
    session = await anyio.to_thread.run_sync(console.sessions.find, websocket.cookies.get(COOKIE))
    if session is None:
        await _refuse(socket, 4401, "not signed in, or the session ended")
        return
    try:
        agent = await anyio.to_thread.run_sync(console.service.router.agent, session.agent_id)
    except NotFoundError:
        await _refuse(socket, 4401, f"agent {session.agent_id!r} no longer exists")
        return
    page = Page(Actor(agent, session), socket)
    with console.hub.attach(page):
        await console.hub.push_state(page, force=True)
        while True:
            event = await websocket.receive()
            if event["type"] == "websocket.disconnect":
                return
            await _handle(console, page, event.get("text") or "")


async def _handle(console: Console, page: Page, raw: str) -> None:
    try:
        frame = json.loads(raw) if len(raw) <= 4096 else None
    except ValueError:
        frame = None
    if not isinstance(frame, dict):
        await console.hub.send(page, {"type": "error", "code": "bad_frame", "reason": "frames are JSON objects"})
        return
    kind = frame.get("type")
    if kind == "watch" and isinstance(frame.get("conversation_id"), str):
        conversation_id = frame["conversation_id"][:128]
        if not await console.hub.watch(page, conversation_id):
            reason = f"conversation {conversation_id!r} is neither offered to nor held by you"
            await console.hub.send(page, {"type": "error", "code": "forbidden", "reason": reason})
    elif kind == "unwatch":
        page.watching = set()
    elif kind == "ping":
        await console.hub.send(page, {"type": "pong"})
    else:
        reason = 'unknown frame; send {"type": "watch", "conversation_id": ...} or {"type": "ping"}'
        await console.hub.send(page, {"type": "error", "code": "bad_frame", "reason": reason})
