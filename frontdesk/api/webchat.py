"""Web chat routes: visitor sessions, the WebSocket, the REST fallback, the widget's files and the demo shop.

The widget is embedded on the customer's own site, so the REST routes answer cross-origin requests from the
origins in `FRONTDESK_WEBCHAT_ALLOWED_ORIGINS` (any by default: the visitor token, sent as a bearer header,
is the only credential; no cookie is involved). Errors are 4xx with a `detail` that says what is wrong.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response, WebSocket, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, field_validator
from starlette.requests import HTTPConnection

from channels.webchat import STATIC_DIR, protocol
from channels.webchat.tokens import TokenError, VisitorSession
from conversations.webchat import ConversationNotFoundError, ForbiddenError, WebchatService
from frontdesk.api.deps import SettingsDep
from frontdesk.api.throttle import NewSessionLimit, address_of, enforce
from frontdesk.api.webchat_socket import redact_query_tokens, serve_socket
from frontdesk.runtime import Runtime, build_webchat

DEMO_PAGE = Path(__file__).resolve().parents[1] / "demo_site" / "index.html"
DEMO_STYLE = DEMO_PAGE.with_name("shop.css")
STATIC_FILES = {"widget.js": "text/javascript", "widget.css": "text/css"}


# Wiring.


def start(app: FastAPI, runtime: Runtime) -> WebchatService:
    """Build the web chat for this process and register its channel, so that replies from the outbox (a
    person's answer) reach the visitor's open windows. Called once in the app's lifespan."""
    proactive = runtime.monitor.notice_for if runtime.monitor is not None else None
    service = build_webchat(runtime.settings, runtime.inbox, proactive=proactive)
    runtime.add_channel(service.channel)
    redact_query_tokens()
    app.state.webchat = service
    app.state.webchat_origins = allowed_origins(runtime.settings.webchat_allowed_origins)
    return service


def allowed_origins(setting: str) -> frozenset[str] | None:
    """The origins allowed to embed the widget; None for any."""
    origins = frozenset(part.strip().rstrip("/") for part in setting.split(",") if part.strip())
    return None if not origins or "*" in origins else origins


def get_webchat(connection: HTTPConnection) -> WebchatService:
    service: WebchatService | None = getattr(connection.app.state, "webchat", None)
    if service is None:  # pragma: no cover - the lifespan always starts it
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the web chat is starting; try again")
    return service


WebchatDep = Annotated[WebchatService, Depends(get_webchat)]


# Cross-origin requests from the sites that embed the widget.


def _origin_allowed(connection: HTTPConnection) -> tuple[bool, str | None]:
    origin = connection.headers.get("origin")
    if origin is None:
        return True, None
    origins: frozenset[str] | None = getattr(connection.app.state, "webchat_origins", None)
    same_site = origin.split("://", 1)[-1] == connection.headers.get("host")
    return origins is None or origin in origins or same_site, origin


def _add_cors(request: Request, response: Response) -> None:
    allowed, origin = _origin_allowed(request)
    if origin is None or not allowed:
        return
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Vary"] = "Origin"


class CorsRoute(APIRoute):
    """A route whose every answer, errors included, carries the CORS headers the widget's origin needs."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def with_cors(request: Request) -> Response:
            try:
                response = await handler(request)
            except HTTPException as exc:
                response = JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)
            except RequestValidationError as exc:
                errors = [
                    {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
                    for e in exc.errors()
                ]
                response = JSONResponse({"detail": errors}, status.HTTP_422_UNPROCESSABLE_CONTENT)
            _add_cors(request, response)
            return response

        return with_cors


router = APIRouter()
api = APIRouter(prefix="/v1/webchat", tags=["webchat"], route_class=CorsRoute)
bearer = HTTPBearer(auto_error=False, description="The visitor token from POST /v1/webchat/sessions.")


@api.options("/{path:path}", include_in_schema=False)
async def preflight(request: Request, path: str) -> Response:
    """CORS preflight for the widget's requests."""
    allowed, origin = _origin_allowed(request)
    if origin is None or not allowed:
        return Response(status_code=status.HTTP_403_FORBIDDEN if origin else status.HTTP_204_NO_CONTENT)
    return Response(
        status_code=status.HTTP_204_NO_CONTENT,
        headers={
            "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
            "Access-Control-Allow-Headers": "Authorization, Content-Type, Accept",
            "Access-Control-Max-Age": "600",
        },
    )


# Sessions and authentication.


async def _authorize(service: WebchatService, token: str | None, conversation_id: str | None = None) -> VisitorSession:
    try:
        return await service.authorize(token, conversation_id)
    except TokenError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc), headers={"WWW-Authenticate": "Bearer"}) from exc
    except ForbiddenError as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from exc
    except ConversationNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc


async def current_visitor(
    service: WebchatDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    conversation_id: Annotated[
        str | None, Query(max_length=128, description="Optional: the conversation the client expects")
    ] = None,
) -> VisitorSession:
    """The visitor whose token is in `Authorization: Bearer`."""
    return await _authorize(service, credentials.credentials if credentials else None, conversation_id)


VisitorDep = Annotated[VisitorSession, Depends(current_visitor)]


async def limit_visitor_messages(request: Request, visitor: VisitorDep) -> None:
    """A visitor's messages, per visitor and per client address (429 with Retry-After)."""
    address = address_of(request)
    await enforce(request, ("messages_per_visitor", visitor.visitor_id), ("messages_per_address", address))


async def limit_handoffs(request: Request, visitor: VisitorDep) -> None:
    """A visitor's requests for a person, per visitor and per client address."""
    address = address_of(request)
    await enforce(request, ("handoffs_per_visitor", visitor.visitor_id), ("handoffs_per_address", address))


class SessionOut(BaseModel):
    token: str = Field(description="Keep it: it resumes the conversation and is the only way to read or write it.")
    visitor_id: str
    conversation_id: str
    expires_at: str


class SourceOut(BaseModel):
    title: str
    url: str | None


class HistoryItemOut(BaseModel):
    id: int
    role: str
    text: str
    created_at: str
    citations: list[SourceOut]
    client_id: str | None = None


class HistoryOut(BaseModel):
    conversation_id: str
    status: str
    notice: str | None
    rating: int | None
    messages: list[HistoryItemOut]


class ReplyOut(BaseModel):
    type: Literal["reply"]
    id: str = Field(description="The client's message id.")
    message_id: int | None = Field(description="The stored answer's id.")
    customer_message_id: int | None
    text: str
    citations: list[SourceOut]
    escalated: bool


class StatusOut(BaseModel):
    type: Literal["status"]
    status: str
    reason: str | None
    text: str | None = Field(description="A message for the transcript.")
    notice: str | None = Field(description="A short line shown while the status lasts.")


class AnsweredOut(BaseModel):
    reply: ReplyOut | None = Field(description="None only while another request answers this very message.")
    status: StatusOut | None = Field(description="Set when the conversation went to a person, or came back.")


class RatedOut(BaseModel):
    type: Literal["rated"]
    score: int


@api.post("/sessions", status_code=status.HTTP_201_CREATED, dependencies=[NewSessionLimit])
async def create_session(service: WebchatDep) -> SessionOut:
    """Start a visitor's conversation; the token resumes it and is the only way to read or write it."""
    session = await service.start_session()
    return SessionOut(
        token=session.token,
        visitor_id=session.visitor.visitor_id,
        conversation_id=session.visitor.conversation_id,
        expires_at=session.expires_at.isoformat(),
    )


@api.get("/history")
async def get_history(
    service: WebchatDep,
    visitor: VisitorDep,
    after: Annotated[int | None, Query(ge=0, description="Only messages after this message id")] = None,
) -> HistoryOut:
    """The visitor's conversation: status, latest rating and messages, oldest first."""
    try:
        history = await service.history(visitor, after=after)
    except ConversationNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    return HistoryOut.model_validate(history.as_json())


class MessageIn(BaseModel):
    id: str | None = Field(
        default=None, pattern=protocol.CLIENT_ID_PATTERN, description="Client message id: a retry is answered once"
    )
    text: str = Field(min_length=1, max_length=protocol.MAX_TEXT)
    stream: bool = False

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            msg = "the message is blank"
            raise ValueError(msg)
        return value


def _sse(frame: dict[str, Any]) -> bytes:
    return f"event: {frame['type']}\ndata: {json.dumps(frame, ensure_ascii=False)}\n\n".encode()


@api.post(
    "/messages",
    response_model=AnsweredOut,
    dependencies=[Depends(limit_visitor_messages)],
    responses={200: {"content": {"text/event-stream": {}}, "description": "The answer, or its stream of frames."}},
)
async def post_message(
    message: MessageIn, service: WebchatDep, visitor: VisitorDep, request: Request
) -> dict[str, Any] | StreamingResponse:
    """Send the visitor's message (the fallback when WebSockets fail): the answer as JSON, or as server-sent
    events (`delta`s, then `reply`, then `done`) when asked to stream."""
    client_id = message.id or uuid.uuid4().hex
    frames = service.converse(visitor, client_id, message.text)
    if not (message.stream or "text/event-stream" in request.headers.get("accept", "")):
        reply: dict[str, Any] | None = None
        handoff: dict[str, Any] | None = None
        async for frame in frames:
            if frame["type"] == "reply":
                reply = frame
            elif frame["type"] == "status":
                handoff = frame
        return {"reply": reply, "status": handoff}

    async def events() -> AsyncIterator[bytes]:
        async for frame in frames:
            yield _sse(frame)
        yield _sse({"type": "done"})

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@api.post("/human", dependencies=[Depends(limit_handoffs)])
async def ask_for_human(service: WebchatDep, visitor: VisitorDep) -> StatusOut:
    """Hand the conversation to a person; the answer says roughly when one will reply."""
    return StatusOut.model_validate(await service.request_human(visitor))


class RatingIn(BaseModel):
    score: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=protocol.MAX_COMMENT)


@api.post("/rating")
async def rate_conversation(rating: RatingIn, service: WebchatDep, visitor: VisitorDep) -> RatedOut:
    """Rate the conversation from 1 to 5, with an optional comment (the latest rating counts)."""
    return RatedOut.model_validate(await service.rate(visitor, rating.score, rating.comment))


# The WebSocket.


@api.websocket("/ws")
async def chat_socket(websocket: WebSocket, service: WebchatDep) -> None:
    """The chat: the token comes in a first frame `{"type": "auth", "token": ...}`, never in the URL (a
    `?token=` is refused with 4401, unread); then `hello`, then frames both ways (see
    `channels.webchat.protocol`)."""
    allowed, origin = _origin_allowed(websocket)
    limits = getattr(websocket.app.state, "rate_limits", None)
    await serve_socket(
        websocket,
        service,
        refused_origin=None if allowed else origin,
        limits=limits,
        address=address_of(websocket),
    )


# The widget's files and the demo shop.


@router.get("/webchat/{name}", include_in_schema=False)
async def widget_file(name: str) -> FileResponse:
    """The embeddable widget: `widget.js` and its stylesheet."""
    if name not in STATIC_FILES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no web chat file {name!r}; try widget.js")
    return FileResponse(
        STATIC_DIR / name,
        media_type=STATIC_FILES[name],
        headers={"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"},
    )


@router.get("/", include_in_schema=False)
@router.get("/demo", include_in_schema=False)
async def demo_page(settings: SettingsDep) -> HTMLResponse:
    """A demo shop (Northwind Bikes) with the chat widget on it."""
    if not settings.webchat_demo_page:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the demo page is off (FRONTDESK_WEBCHAT_DEMO_PAGE=false)")
    page = await anyio.Path(DEMO_PAGE).read_text(encoding="utf-8")
    return HTMLResponse(page)


@router.get("/demo/shop.css", include_in_schema=False)
async def demo_style(settings: SettingsDep) -> FileResponse:
    """The demo shop's stylesheet."""
    if not settings.webchat_demo_page:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the demo page is off (FRONTDESK_WEBCHAT_DEMO_PAGE=false)")
    return FileResponse(DEMO_STYLE, media_type="text/css", headers={"Cache-Control": "public, max-age=300"})


router.include_router(api)
