"""The body-limit middleware, driven as an ASGI app with the exact messages a server would pass."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel

from frontdesk.middleware.body_limits import BodyLimit, BodyLimitMiddleware


class Note(BaseModel):
    text: str


def build_app() -> FastAPI:
    app = FastAPI()

    @app.post("/json")
    async def json_route(note: Note) -> dict[str, int]:
        return {"length": len(note.text)}

    @app.post("/form")
    async def form_route(request: Request) -> dict[str, int]:
        form = await request.form()
        return {"fields": len(form)}

    @app.post("/raw")
    async def raw_route(request: Request) -> dict[str, int]:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        return {"size": size}

    @app.post("/swallows")
    async def swallowing_route(request: Request) -> dict[str, str]:
        try:
            await request.body()
        except Exception:  # a route that turns any read error into its own answer
            return {"read": "failed"}
        return {"read": "ok"}

    @app.post("/refuses")
    async def refusing_route() -> None:
        raise HTTPException(401, "no credential")

    app.add_middleware(
        BodyLimitMiddleware,
        rules=(BodyLimit("/raw", 100, "raw things (RAW_LIMIT)", frozenset({"POST"})),),
        default=50,
        default_what="bodies (DEFAULT_LIMIT)",
    )
    return app


APP = build_app()


@dataclass
class Exchange:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    chunks_read: int = 0

    @property
    def detail(self) -> str:
        return str(json.loads(self.body)["detail"])


async def call(path: str, chunks: list[bytes], headers: dict[str, str] | None = None) -> Exchange:
    """One POST with its body in `chunks` (more_body between them), as uvicorn would deliver it."""
    result = Exchange()
    pending = list(chunks)
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }

    async def receive() -> dict[str, Any]:
        if not pending:
            return {"type": "http.disconnect"}
        result.chunks_read += 1
        chunk = pending.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            result.status = message["status"]
            result.headers = {k.decode().lower(): v.decode() for k, v in message.get("headers", [])}
        elif message["type"] == "http.response.body":
            result.body += message.get("body", b"")

    await APP(scope, receive, send)
    return result


async def test_bodies_within_their_limits_pass() -> None:
    body = json.dumps({"text": "hello"}).encode()
    ok = await call("/json", [body], {"content-type": "application/json", "content-length": str(len(body))})
    assert ok.status == 200 and json.loads(ok.body) == {"length": 5}
    raw = await call("/raw", [b"x" * 60, b"y" * 40])  # 100 bytes: the raw route's limit exactly, over the default
    assert raw.status == 200 and json.loads(raw.body) == {"size": 100}


async def test_a_declared_length_over_the_limit_is_refused_before_any_byte_is_read() -> None:
    refused = await call("/json", [b"{}"], {"content-type": "application/json", "content-length": "51"})
    assert refused.status == 413 and refused.chunks_read == 0
    assert "50 bytes" in refused.detail and "DEFAULT_LIMIT" in refused.detail
    assert refused.headers["connection"] == "close"
    raw = await call("/raw", [b""], {"content-length": "40000000"})
    assert raw.status == 413 and raw.chunks_read == 0 and "RAW_LIMIT" in raw.detail


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/json", {"content-type": "application/json"}),
        ("/form", {"content-type": "application/x-www-form-urlencoded"}),
        ("/form", {"content-type": "multipart/form-data; boundary=xyz"}),
        ("/raw", {}),
        ("/swallows", {}),
    ],
)
async def test_a_streamed_body_is_cut_with_413_when_it_passes_the_limit(path: str, headers: dict[str, str]) -> None:
    chunks = [b"a" * 30] * 10  # chunked: no Content-Length, 300 bytes in all
    if "multipart" in headers.get("content-type", ""):
        chunks[0] = b'--xyz\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n\r\n'
    cut = await call(path, chunks, headers)
    assert cut.status == 413, cut.body
    assert "larger than" in cut.detail
    assert cut.chunks_read < len(chunks)  # the rest was never read
    assert cut.headers["connection"] == "close"


async def test_a_body_longer_than_its_content_length_is_cut() -> None:
    lying = await call("/raw", [b"x" * 10, b"x" * 10], {"content-length": "10"})
    assert lying.status == 413 and "longer than its Content-Length of 10" in lying.detail


@pytest.mark.parametrize("value", ["ten", "-1", "1,1", "99999999999999999999"])
async def test_an_unreadable_content_length_is_400(value: str) -> None:
    bad = await call("/json", [b"{}"], {"content-length": value})
    assert bad.status == 400 and bad.chunks_read == 0 and "Content-Length" in bad.detail


def test_rules_match_method_and_path() -> None:
    rule = BodyLimit("/twilio/", 10, "Twilio", prefix=True)
    assert rule.matches("POST", "/twilio/messages") and not rule.matches("POST", "/v1/twilio")
    exact = BodyLimit("/upload", 10, "uploads", frozenset({"POST"}))
    assert exact.matches("post", "/upload") and not exact.matches("PUT", "/upload")
    assert not exact.matches("POST", "/upload/more")
    with pytest.raises(ValueError, match="-1"):
        BodyLimit("/x", -1, "x")


async def test_an_answer_before_the_body_was_read_closes_the_connection() -> None:
    refused = await call("/refuses", [b"x" * 20, b"x" * 20], {"content-length": "40"})
    assert refused.status == 401 and refused.chunks_read == 0
    assert refused.headers["connection"] == "close"  # the server drops the rest instead of reading it
    read = await call("/raw", [b"x" * 20, b"x" * 20], {"content-length": "40"})
    assert read.status == 200 and "connection" not in read.headers
