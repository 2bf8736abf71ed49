"""A fake Gemini REST server on 127.0.0.1 for tests: the real google-genai client talks to it over HTTP.

It speaks the shape of the Gemini Developer API that google-genai uses:

- ``POST /v1beta/models/{model}:generateContent`` answers one JSON ``GenerateContentResponse``;
- ``POST /v1beta/models/{model}:streamGenerateContent?alt=sse`` answers server-sent events, one
  ``data: {GenerateContentResponse}`` per chunk;
- errors are Google's error JSON ``{"error": {"code", "message", "status"}}`` with the same HTTP status.

Every request is recorded (path, model, query, headers, JSON body) so a test can assert what was sent.
What it answers is scripted per test with :class:`FakeReply`: queued replies are used first, one per
request, then the ``default`` reply, unless a ``responder`` callable decides from the request itself.

Usage::

    with FakeGemini() as fake:                      # or the ``fake_gemini`` fixture
        fake.enqueue(FakeReply(status=503), times=2)  # two failures, then...
        fake.default = FakeReply(text="Refunds take 5 days [1].")
        model = build_gemini_chat_model("test-key", "gemini-2.5-flash", base_url=fake.base_url, ...)
        ...
        assert fake.requests[-1].system_instruction.startswith("You are")
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
GOOGLE_MESSAGE = {
    400: "Request contains an invalid argument.",
    401: "Request had invalid authentication credentials.",
    403: "The caller does not have permission.",
    404: "Requested entity was not found.",
    429: "Resource has been exhausted (e.g. check quota).",
    500: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
    504: "Deadline expired before operation could complete.",
}


def google_error(status: int, message: str | None = None) -> dict[str, Any]:
    """Google's error body for an HTTP status, as the Gemini API sends it."""
    return {
        "error": {
            "code": status,
            "message": message or GOOGLE_MESSAGE.get(status, HTTPStatus(status).phrase),
            "status": GOOGLE_STATUS.get(status, "UNKNOWN"),
        }
    }


@dataclass(frozen=True)
class FakeReply:
    """What the fake answers to one request.

    - ``text``: the answer of ``generateContent``; a stream sends it cut in about 3 word-aligned pieces.
    - ``chunks``: the pieces a stream sends, one SSE event each; with no ``text``, ``generateContent`` answers their
      join, so one reply serves ``write`` and ``stream`` alike.
    - ``status``: an HTTP error status (429, 500, 503, ...) answered with Google's error JSON instead of text.
    - ``delay``: seconds to wait before answering anything (longer than the client's timeout → a timeout).
    - ``chunk_delay``: seconds to wait between stream chunks.
    - ``error_after``: in a stream, after this many chunks send an in-stream error event of ``error_status``.
    - ``drop_after``: in a stream, after this many chunks cut the connection without finishing.
    - ``finish_reason``: the last candidate's finishReason (``STOP``, ``MAX_TOKENS``, ``SAFETY``...).
    """

    text: str = ""
    chunks: Sequence[str] | None = None
    status: int = 200
    error_message: str | None = None
    delay: float = 0.0
    chunk_delay: float = 0.0
    error_after: int | None = None
    error_status: int = 503
    drop_after: int | None = None
    finish_reason: str = "STOP"

    @property
    def full_text(self) -> str:
        """What ``generateContent`` answers: ``text``, or the joined ``chunks`` when only those are given."""
        if not self.text and self.chunks is not None:
            return "".join(self.chunks)
        return self.text

    def stream_pieces(self) -> list[str]:
        """The chunks a stream sends: ``chunks`` if given, else ``text`` cut in about three word-aligned pieces."""
        if self.chunks is not None:
            return list(self.chunks)
        words = self.text.split(" ")
        if len(words) < 3:
            return [self.text]
        size = -(-len(words) // 3)
        parts = [" ".join(words[i : i + size]) for i in range(0, len(words), size)]
        return [part + (" " if i < len(parts) - 1 else "") for i, part in enumerate(parts)]


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received."""

    method: str
    path: str
    model: str
    action: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: Mapping[str, Any]
    received_at: float = 0.0

    @property
    def stream(self) -> bool:
        """True for ``streamGenerateContent``."""
        return self.action == "streamGenerateContent"

    @property
    def api_key(self) -> str | None:
        """The key the client sent in ``x-goog-api-key``."""
        return self.headers.get("x-goog-api-key")

    @property
    def system_instruction(self) -> str:
        """The text of ``systemInstruction`` (empty when there is none)."""
        parts = (self.body.get("systemInstruction") or {}).get("parts") or []
        return "".join(part.get("text", "") for part in parts)

    @property
    def contents_text(self) -> str:
        """The text of every part of every content turn, joined by blank lines."""
        texts = [
            part.get("text", "") for content in self.body.get("contents") or [] for part in content.get("parts") or []
        ]
        return "\n\n".join(texts)

    @property
    def generation_config(self) -> Mapping[str, Any]:
        """``generationConfig`` as sent (camelCase keys, as on the wire)."""
        return self.body.get("generationConfig") or {}


Responder = Callable[[RecordedRequest], FakeReply]


@dataclass
class _Script:
    default: FakeReply = field(default_factory=lambda: FakeReply(text="OK"))
    queue: deque[FakeReply] = field(default_factory=deque)
    responder: Responder | None = None


class FakeGemini:
    """A Gemini-shaped HTTP server in a background thread, bound to 127.0.0.1 on a free port."""

    def __init__(self, *, api_key: str | None = None, default: FakeReply | None = None) -> None:
        """``api_key``: when set, requests with another ``x-goog-api-key`` get Google's 400 API_KEY_INVALID."""
        self.api_key = api_key
        self._script = _Script(default=default or FakeReply(text="OK"))
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------------

    def start(self) -> FakeGemini:
        """Bind 127.0.0.1 on a free port and serve in a daemon thread."""
        if self._server is not None:
            return self
        handler = type("_BoundHandler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-gemini", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; delays still running are cut short."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeGemini:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``, to give the client as its base URL."""
        if self._server is None:
            msg = "the fake Gemini server is not started; call start() or use it as a context manager"
            raise RuntimeError(msg)
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- scripting ---------------------------------------------------------------------------------------------------

    @property
    def default(self) -> FakeReply:
        """The reply used when the queue is empty and there is no responder."""
        return self._script.default

    @default.setter
    def default(self, reply: FakeReply) -> None:
        with self._lock:
            self._script.default = reply

    def enqueue(self, reply: FakeReply, *, times: int = 1) -> None:
        """Answer the next ``times`` requests with ``reply`` (before the default)."""
        with self._lock:
            self._script.queue.extend([reply] * times)

    def respond_with(self, responder: Responder | None) -> None:
        """Let a function pick the reply from the request (after the queue; None removes it)."""
        with self._lock:
            self._script.responder = responder

    def reset(self) -> None:
        """Forget the recorded requests, the queue and the responder; the default becomes ``OK``."""
        with self._lock:
            self._requests.clear()
            self._script = _Script()

    @property
    def requests(self) -> list[RecordedRequest]:
        """The requests received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    # -- used by the handler -----------------------------------------------------------------------------------------

    def _record_and_pick(self, request: RecordedRequest) -> FakeReply:
        with self._lock:
            self._requests.append(request)
            if self._script.queue:
                return self._script.queue.popleft()
            responder = self._script.responder
            default = self._script.default
        return responder(request) if responder is not None else default

    def _sleep(self, seconds: float) -> bool:
        """Wait; False when the server is stopping (the caller gives up)."""
        return not (seconds > 0 and self._stopping.wait(seconds))


class _Handler(BaseHTTPRequestHandler):
    fake: FakeGemini
    protocol_version = "HTTP/1.0"  # one request per connection; streams end when the connection closes

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the recorded requests instead."""

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        prefix = "/v1beta/models/"
        if not url.path.startswith(prefix) or ":" not in url.path:
            self._send_json(404, google_error(404, f"no such method: {url.path}"))
            return
        model, _, action = url.path[len(prefix) :].rpartition(":")
        if action not in ("generateContent", "streamGenerateContent"):
            self._send_json(404, google_error(404, f"unknown action {action!r}"))
            return
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            self._send_json(400, google_error(400, "Invalid JSON payload received."))
            return
        request = RecordedRequest(
            method="POST",
            path=url.path,
            model=model,
            action=action,
            query=query,
            headers={key.lower(): value for key, value in self.headers.items()},
            body=body,
            received_at=time.monotonic(),
        )
        reply = self.fake._record_and_pick(request)
        if not self.fake._sleep(reply.delay):
            return
        try:
            if self.fake.api_key is not None and request.api_key != self.fake.api_key:
                self._send_json(400, google_error(400, "API key not valid. Please pass a valid API key."))
            elif reply.status != 200:
                self._send_json(reply.status, google_error(reply.status, reply.error_message))
            elif request.stream:
                self._send_stream(model, reply)
            else:
                self._send_json(200, _response(model, reply.full_text, reply.finish_reason))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout) before we answered

    def _send_json(self, status: int, payload: Mapping[str, Any]) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_stream(self, model: str, reply: FakeReply) -> None:
        pieces = reply.stream_pieces()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        response_id = uuid.uuid4().hex[:16]
        for index, piece in enumerate(pieces):
            if reply.error_after is not None and index == reply.error_after:
                self._send_event(google_error(reply.error_status, reply.error_message))
                return
            if reply.drop_after is not None and index == reply.drop_after:
                self.wfile.flush()
                self.connection.shutdown(2)  # socket.SHUT_RDWR: cut the stream mid-way
                return
            if index and not self.fake._sleep(reply.chunk_delay):
                return
            last = index == len(pieces) - 1
            self._send_event(_response(model, piece, reply.finish_reason if last else None, response_id))

    def _send_event(self, payload: Mapping[str, Any]) -> None:
        self.wfile.write(b"data: " + json.dumps(payload).encode("utf-8") + b"\r\n\r\n")
        self.wfile.flush()


def _response(model: str, text: str, finish_reason: str | None, response_id: str | None = None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
    if finish_reason is not None:
        candidate["finishReason"] = finish_reason
    tokens = max(1, len(text.split()))
    return {
        "candidates": [candidate],
        "usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": tokens, "totalTokenCount": 100 + tokens},
        "modelVersion": model,
        "responseId": response_id or uuid.uuid4().hex[:16],
    }
