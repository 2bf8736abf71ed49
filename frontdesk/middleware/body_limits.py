"""Request body limits, enforced while the body is read (a pure ASGI middleware: nothing is buffered).

Each request gets the limit of the first `BodyLimit` rule that matches its method and path, or the default.
A declared Content-Length over the limit is answered 413 at once, before a byte of the body is read (and
before the route, its authentication included, runs). A body that streams past the limit, or past the
Content-Length it declared, is cut: the app's next `receive()` raises `BodyTooLarge` (an HTTPException with
413 and the reason), and if the app answered anything else after that, the answer is replaced by the 413.
Refusals, and any answer given before the whole body was read (a 401 of a route that checks the
credential first), close the connection, so the rest of the body is never read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TWILIO_WEBHOOK_BYTES = 64 * 1024
"""Twilio's webhooks are small forms (a message with its metadata), never near this."""


@dataclass(frozen=True)
class BodyLimit:
    """At most `limit` bytes for requests to `path` (or under it, with `prefix`), for `methods` (None: any).
    `what` names the limit in the refusal, e.g. "uploads (FRONTDESK_MAX_UPLOAD_BYTES)"."""

    path: str
    limit: int
    what: str
    methods: frozenset[str] | None = None
    prefix: bool = False

    def __post_init__(self) -> None:
        if self.limit < 0:
            msg = f"a body limit is 0 bytes or more, got {self.limit} for {self.path!r}"
            raise ValueError(msg)

    def matches(self, method: str, path: str) -> bool:
        """Whether a request with this method and path falls under the rule."""
        if self.methods is not None and method.upper() not in self.methods:
            return False
        return path.startswith(self.path) if self.prefix else path == self.path


class BodyTooLarge(HTTPException):
    """The request body passed its limit (413), raised from `receive()` while the app reads it."""

    def __init__(self, reason: str) -> None:
        super().__init__(status_code=413, detail=reason, headers={"Connection": "close"})


def _too_large(limit: int, what: str) -> str:
    return f"the request body is larger than {limit} bytes, the limit for {what}"


async def _answer(send: Send, status: int, reason: str) -> None:
    body = json.dumps({"detail": reason}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _declared_length(scope: Scope) -> tuple[int | None, str | None]:
    """The Content-Length the request declares, or the reason it is unusable."""
    values = [value for name, value in scope.get("headers", ()) if name.lower() == b"content-length"]
    if not values:
        return None, None
    text = values[0].decode("latin-1").strip()
    if len(values) > 1 or not text.isdigit() or len(text) > 18:
        return None, f"the Content-Length header {text!r} is not one whole number of bytes"
    return int(text), None


class _Guard:
    """One request's body counter, between the app and the server."""

    def __init__(
        self, receive: Receive, send: Send, *, limit: int, declared: int | None, chunked: bool, what: str
    ) -> None:
        self._receive = receive
        self._send = send
        self.limit = limit
        self.declared = declared
        self.what = what
        self.received = 0
        self.unread = chunked or bool(declared)
        self.refusal: str | None = None
        self.started = False
        self._swallow = False

    async def receive(self) -> Message:
        if self.refusal is not None:
            raise BodyTooLarge(self.refusal)
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            self.unread = self.unread and bool(message.get("more_body", False))
            if self.received > self.limit:
                self.refusal = _too_large(self.limit, self.what)
            elif self.declared is not None and self.received > self.declared:
                self.refusal = f"the request body is longer than its Content-Length of {self.declared} bytes"
            if self.refusal is not None:
                raise BodyTooLarge(self.refusal)
        return message

    async def send(self, message: Message) -> None:
        if self._swallow:
            return
        if message["type"] == "http.response.start" and self.refusal is not None:
            if message["status"] != 413:  # the app turned the cut body into another answer: the cut wins
                self._swallow = True
                await self.refuse()
                return
        if message["type"] == "http.response.start":
            self.started = True
            if self.refusal is not None or self.unread:  # close rather than read (and drop) the rest of the body
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
        await self._send(message)

    async def refuse(self) -> None:
        self.started = True
        await _answer(self._send, 413, self.refusal or _too_large(self.limit, self.what))


class BodyLimitMiddleware:
    """Limits every HTTP request body: the first matching rule's limit, else `default` bytes."""

    def __init__(
        self, app: ASGIApp, *, rules: Sequence[BodyLimit] = (), default: int, default_what: str = "this route"
    ) -> None:
        if default < 0:
            msg = f"the default body limit is 0 bytes or more, got {default}"
            raise ValueError(msg)
        self.app = app
        self.rules = tuple(rules)
        self.default = default
        self.default_what = default_what

    def limit_for(self, method: str, path: str) -> tuple[int, str]:
        """The limit in bytes for a request, and what the refusal calls it."""
        for rule in self.rules:
            if rule.matches(method, path):
                return rule.limit, rule.what
        return self.default, self.default_what

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, what = self.limit_for(scope["method"], scope["path"])
        declared, problem = _declared_length(scope)
        if problem is not None:
            await _answer(send, 400, problem)
            return
        if declared is not None and declared > limit:
            await _answer(send, 413, _too_large(limit, what))
            return
        chunked = any(name.lower() == b"transfer-encoding" for name, _ in scope.get("headers", ()))
        guard = _Guard(receive, send, limit=limit, declared=declared, chunked=chunked, what=what)
        try:
            await self.app(scope, guard.receive, guard.send)
        except Exception:
            if guard.refusal is None or guard.started:
                raise
            await guard.refuse()  # the cut body surfaced as an error (BodyTooLarge, or wrapped): answer 413
