"""One visitor's browser window on the web chat WebSocket: authentication, `hello`, then frames both ways.

Every frame about the conversation reaches the window through the hub (so a second tab, or a window that
reconnected while an answer was written, sees the same); errors about what this window sent go to it alone.
A window that closes while its answer is being written does not stop the answer: it is stored, and shown
when the visitor comes back.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import anyio
from fastapi import WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from channels.webchat import protocol
from channels.webchat.hub import ConnectionGone
from channels.webchat.protocol import HumanFrame, MessageFrame, ProtocolError, RatingFrame, parse_client_frame
from channels.webchat.tokens import TokenError, VisitorSession
from conversations.webchat import ConversationNotFoundError, ForbiddenError, WebchatService
from frontdesk.rate_limits import RateLimitedError, RateLimits

logger = logging.getLogger(__name__)

AUTH_TIMEOUT = 10.0
CLOSE_CODES = {"unauthorized": 4401, "forbidden": 4403, "not_found": 4404}
TOKEN_IN_URL = (
    "the visitor token may not travel in the URL (?token=): URLs end up in access logs. Connect without it "
    'and send {"type": "auth", "token": ...} as the first frame'
)
_QUERY_TOKEN = re.compile(r"([?&]token=)[^&\s\"']*", re.IGNORECASE)


class QueryTokenRedaction(logging.Filter):
    """Blanks the value of a `token=` query parameter in the records of a logger (uvicorn's access and
    connection logs show each request's URL, query included): a token someone put in a URL is refused, and
    is not written down either."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = _QUERY_TOKEN.sub(r"\1[redacted]", record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                _QUERY_TOKEN.sub(r"\1[redacted]", arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True


def redact_query_tokens(*logger_names: str) -> None:
    """Add a `QueryTokenRedaction` to each logger (once), by default uvicorn's access and connection logs."""
    for name in logger_names or ("uvicorn.access", "uvicorn.error"):
        target = logging.getLogger(name)
        if not any(isinstance(existing, QueryTokenRedaction) for existing in target.filters):
            target.addFilter(QueryTokenRedaction())


class SocketConnection:
    """One browser window on the WebSocket, as the hub sees it: frames are sent one at a time."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self._lock = anyio.Lock()
        self.gone = False

    async def send(self, frame: dict[str, Any]) -> None:
        """Send one frame; `ConnectionGone` when the window closed."""
        if self.gone or self.websocket.application_state != WebSocketState.CONNECTED:
            msg = "the window closed"
            raise ConnectionGone(msg)
        async with self._lock:
            try:
                await self.websocket.send_text(json.dumps(frame, ensure_ascii=False))
            except (WebSocketDisconnect, RuntimeError, OSError) as exc:
                self.gone = True
                msg = f"the window closed ({type(exc).__name__})"
                raise ConnectionGone(msg) from exc


async def serve_socket(
    websocket: WebSocket,
    service: WebchatService,
    *,
    refused_origin: str | None = None,
    limits: RateLimits | None = None,
    address: str = "",
) -> None:
    """Serve one window until it closes; its token comes in a first `auth` frame. A window that cannot be let
    in is told why and closed with 4401 (no valid token, or a token put in the URL, which is not even read),
    4403 (not its conversation, or an origin that may not embed the chat) or 4404 (the conversation is gone):
    the widget then starts a new session. Messages and requests for a person over a rate limit (per visitor
    and per `address`) are answered with a `rate_limited` error frame; the socket stays open."""
    await websocket.accept()
    socket = SocketConnection(websocket)
    try:
        if refused_origin is not None:
            msg = f"origin {refused_origin!r} may not embed this chat (FRONTDESK_WEBCHAT_ALLOWED_ORIGINS)"
            raise ForbiddenError(msg)
        if "token" in websocket.query_params:
            raise TokenError(TOKEN_IN_URL)
        token = await _token_from_first_frame(websocket)
        if token is None:  # the window left before saying who it is
            return
        session = await service.authorize(token)
    except TokenError as exc:
        await _refuse(socket, "unauthorized", str(exc))
        return
    except ForbiddenError as exc:
        await _refuse(socket, "forbidden", str(exc))
        return
    except ConversationNotFoundError as exc:
        await _refuse(socket, "not_found", str(exc))
        return
    with service.hub.attach(session.conversation_id, socket):
        try:
            await socket.send((await service.history(session)).hello())
        except ConnectionGone:
            return
        while True:
            event = await websocket.receive()
            if event["type"] == "websocket.disconnect":
                return
            text, data = event.get("text"), event.get("bytes")
            raw: str | bytes = text if isinstance(text, str) else data if isinstance(data, bytes) else b""
            if not await _handle_frame(service, session, socket, raw, limits=limits, address=address):
                return


async def _token_from_first_frame(websocket: WebSocket) -> str | None:
    """The token of an `auth` frame sent first (None when the window closed first); `TokenError` when no such
    frame comes within `AUTH_TIMEOUT` seconds."""
    with anyio.move_on_after(AUTH_TIMEOUT):
        event = await websocket.receive()
        if event["type"] == "websocket.disconnect":
            return None
        try:
            frame = json.loads(event.get("text") or event.get("bytes") or b"")
        except ValueError:
            frame = None
        if isinstance(frame, dict) and frame.get("type") == "auth" and isinstance(frame.get("token"), str):
            return str(frame["token"])
    msg = 'no visitor token: send {"type": "auth", "token": ...} as the first frame'
    raise TokenError(msg)


async def _refuse(socket: SocketConnection, code: str, reason: str) -> None:
    """Say why, then close with a code the widget recognises."""
    try:
        await socket.send(protocol.error(code, reason))
        await socket.websocket.close(CLOSE_CODES[code], reason[:120])
    except (ConnectionGone, RuntimeError):
        return


async def _handle_frame(
    service: WebchatService,
    session: VisitorSession,
    socket: SocketConnection,
    raw: str | bytes,
    *,
    limits: RateLimits | None = None,
    address: str = "",
) -> bool:
    """Act on one client frame; False when the socket was closed because of it."""
    try:
        frame = parse_client_frame(raw)
    except ProtocolError as exc:
        await _tell(socket, protocol.error("bad_frame", str(exc)))
        return True
    if limits is not None and isinstance(frame, MessageFrame | HumanFrame):
        kind = "messages" if isinstance(frame, MessageFrame) else "handoffs"
        try:
            await limits.hit((f"{kind}_per_visitor", session.visitor_id), (f"{kind}_per_address", address))
        except RateLimitedError as exc:
            client_id = frame.id if isinstance(frame, MessageFrame) else None
            refusal = protocol.error("rate_limited", str(exc), client_id=client_id)
            await _tell(socket, {**refusal, "retry_after": exc.retry_after})
            return True
    try:
        if isinstance(frame, MessageFrame):
            # The frames reach this window through the hub; the answer is drained even if the window closes.
            async for _ in service.converse(session, frame.id, frame.text):
                pass
        elif isinstance(frame, HumanFrame):
            await service.request_human(session)
        elif isinstance(frame, RatingFrame):
            await service.rate(session, frame.score, frame.comment)
        else:
            service.visitor_typing(session)
    except ConversationNotFoundError as exc:
        await _refuse(socket, "not_found", str(exc))
        return False
    except Exception:  # the window is told and may retry the same message id; the error is logged
        logger.exception("web chat frame %s on %s failed", frame.type, session.conversation_id)
        client_id = frame.id if isinstance(frame, MessageFrame) else None
        reason = "something went wrong on our side; please try again"
        await _tell(socket, protocol.error("internal", reason, client_id=client_id))
    return True


async def _tell(socket: SocketConnection, frame: dict[str, Any]) -> None:
    try:
        await socket.send(frame)
    except ConnectionGone:
        return
