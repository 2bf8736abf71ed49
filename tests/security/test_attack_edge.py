"""Attacks on the edge of a running `frontdesk serve`: bodies too big (declared, streamed, lied about), big
uploads without credentials, huge WebSocket frames, oversize mail over SMTP; the pages' security headers,
what /readyz tells, and the docs switched off. Each attack: the right 4xx, nothing stored, still responsive.

Bodies go over raw sockets, as an attacker sends them: only the headers and a few KB, or a body that keeps
coming, and the answer is read while the body is still being sent.
"""

from __future__ import annotations

import json
import re
import select
import smtplib
import socket
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import pytest
from fakes.network import free_port
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

BOUNDARY = "attackboundary"
FILE_HEAD = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="big.txt"\r\n'
    "Content-Type: text/plain\r\n\r\n"
).encode()
PAGES = ("/", "/demo", "/console", "/dashboard", "/docs")
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)


@dataclass
class Answer:
    statuses: list[int]
    body: bytes
    sent: int
    seconds: float
    """Until the first answer had arrived (its headers)."""
    closed_after: float
    """Until the server closed the connection."""

    @property
    def status(self) -> int:
        return self.statuses[0] if self.statuses else 0

    def detail(self) -> str:
        return str(json.loads(self.body.split(b"\r\n\r\n", 1)[1].split(b"\r\nHTTP/1.1", 1)[0])["detail"])


def exchange(base_url: str, head: str, body: Iterable[bytes] = (), *, within: float = 15.0) -> Answer:
    """Send `head` then the body chunks, stopping as soon as the server answers (or stops reading); read
    everything the server says until it closes the connection."""
    address = urlsplit(base_url)
    started = time.monotonic()
    sent = 0
    with socket.create_connection((address.hostname, address.port), timeout=within) as sock:
        sock.sendall(head.encode("latin-1"))
        try:
            for chunk in body:
                if select.select([sock], [], [], 0)[0]:
                    break  # the answer is there: stop sending
                sock.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the server closed, or stopped reading: its answer follows
        received = b""
        answered: float | None = None
        try:
            while chunk := sock.recv(65536):
                received += chunk
                if answered is None and b"\r\n\r\n" in received:
                    answered = time.monotonic() - started
                if time.monotonic() - started > within:
                    break
        except (ConnectionResetError, TimeoutError):
            pass
    statuses = [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", received)]
    closed_after = time.monotonic() - started
    return Answer(statuses, received, sent, closed_after if answered is None else answered, closed_after)


def http_head(method: str, path: str, headers: dict[str, str]) -> str:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return "\r\n".join(lines) + "\r\n\r\n"


def repeated(chunk: bytes, total: int) -> Iterator[bytes]:
    for _ in range(total // len(chunk)):
        yield chunk


def chunked(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Transfer-Encoding: chunked framing (without the final empty chunk: the body never ends)."""
    for chunk in chunks:
        yield f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"


def document_total(service: Any) -> int:
    with service.client() as client:
        response = client.get("/v1/knowledge/documents", params={"limit": 1}, headers=service.admin_headers)
        return int(response.json()["total"])


def assert_no_big_upload(service: Any, before: int) -> None:
    with service.client() as client:
        assert client.get("/v1/knowledge/documents/upload:big.txt", headers=service.admin_headers).status_code == 404
    assert document_total(service) == before


# Bodies.


def test_a_declared_oversize_json_body_is_refused_before_it_is_read(service: Any) -> None:
    head = http_head(
        "POST", "/v1/knowledge/search", {"Content-Type": "application/json", "Content-Length": str(2 * 1024 * 1024)}
    )
    answer = exchange(service.base_url, head, [])  # not one byte of the body: the answer comes all the same
    assert answer.status == 413, answer.body[:300]
    assert "FRONTDESK_MAX_JSON_BYTES" in answer.detail()
    assert answer.closed_after < 5
    service.assert_responsive()


def test_a_chunked_json_body_is_cut_when_it_passes_the_limit(service: Any) -> None:
    head = http_head(
        "POST", "/v1/knowledge/search", {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    )
    body = chunked([b'{"query": "', *repeated(b"a" * 65536, 8 * 1024 * 1024)])
    answer = exchange(service.base_url, head, body)
    assert answer.statuses == [413], answer.body[:300]
    assert "larger than 1048576 bytes" in answer.detail()
    assert answer.sent < 8 * 1024 * 1024
    service.assert_responsive()


def test_a_body_longer_than_its_content_length_gets_no_further(service: Any) -> None:
    before = document_total(service)
    smuggled = (
        b"{}"
        + f"POST /v1/knowledge/documents HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}"
        f"\r\nContent-Length: 99999\r\n\r\n".encode()
        + FILE_HEAD
        + b"x" * 5000
    )
    head = http_head("POST", "/v1/knowledge/search", {"Content-Type": "application/json", "Content-Length": "2"})
    answer = exchange(service.base_url, head, [smuggled], within=8)
    assert answer.statuses and all(400 <= code < 500 for code in answer.statuses), answer.body[:500]
    assert answer.statuses[0] == 422  # the declared two bytes, "{}", are all the search route saw
    assert_no_big_upload(service, before)
    service.assert_responsive()


# Uploads: the credential is checked before the body is accepted.


@pytest.mark.parametrize(("declared", "expected"), [(40_000_000, 413), (10_000_000, 401)])
def test_a_big_upload_without_credentials_is_refused_promptly(service: Any, declared: int, expected: int) -> None:
    before = document_total(service)
    head = http_head(
        "POST",
        "/v1/knowledge/documents",
        {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}", "Content-Length": str(declared)},
    )
    answer = exchange(service.base_url, head, [FILE_HEAD + b"a" * 4096], within=10)
    assert answer.status == expected, answer.body[:300]
    assert answer.seconds < 5, f"answered after {answer.seconds:.1f} s: the body was waited for"
    assert answer.closed_after < 5, "the connection stayed open to read the rest of the body"
    assert_no_big_upload(service, before)
    service.assert_responsive()


def test_an_oversize_upload_with_credentials_is_refused(service: Any) -> None:
    before = document_total(service)
    auth = service.admin_headers
    declared = http_head(
        "POST",
        "/v1/knowledge/documents",
        {**auth, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}", "Content-Length": "40000000"},
    )
    at_once = exchange(service.base_url, declared, [FILE_HEAD, *repeated(b"a" * 65536, 40_000_000)])
    assert at_once.status == 413 and "FRONTDESK_MAX_UPLOAD_BYTES" in at_once.detail()
    assert at_once.sent < 5_000_000
    streamed = http_head(
        "POST",
        "/v1/knowledge/documents",
        {**auth, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}", "Transfer-Encoding": "chunked"},
    )
    cut = exchange(service.base_url, streamed, chunked([FILE_HEAD, *repeated(b"a" * 65536, 60_000_000)]), within=30)
    assert cut.statuses == [413], cut.body[:300]
    assert "larger than 20000000 bytes" in cut.detail()
    assert cut.sent < 40_000_000
    assert_no_big_upload(service, before)
    service.assert_responsive()


# WebSockets.


def test_a_two_mebibyte_websocket_frame_closes_the_socket_unread(service: Any) -> None:
    with service.client() as client:
        session = client.post("/v1/webchat/sessions").json()
    url = service.base_url.replace("http://", "ws://") + "/v1/webchat/ws"
    with connect(url, max_size=None, open_timeout=10, close_timeout=5) as websocket:
        websocket.send(json.dumps({"type": "auth", "token": session["token"]}))
        hello = json.loads(websocket.recv(timeout=10))
        assert hello["type"] == "hello"
        with pytest.raises(ConnectionClosed) as closed:
            websocket.send(json.dumps({"type": "message", "text": "x" * (2 * 1024 * 1024)}))
            websocket.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    with service.client() as client:
        history = client.get("/v1/webchat/history", headers={"Authorization": f"Bearer {session['token']}"}).json()
    assert history["messages"] == []
    service.assert_responsive()


# Pages.


def test_every_html_page_sends_the_security_headers(service: Any) -> None:
    with service.client() as client:
        for path in PAGES:
            page = client.get(path)
            assert page.status_code == 200, path
            policy = page.headers["content-security-policy"]
            assert "script-src 'self'" in policy and "unsafe-inline" not in policy, path
            assert "frame-ancestors 'none'" in policy, path
            assert page.headers["x-frame-options"] == "DENY", path
            assert page.headers["x-content-type-options"] == "nosniff", path
            assert page.headers["referrer-policy"] == "no-referrer", path
            assert "strict-transport-security" not in page.headers  # the service is not public over https
            assert not INLINE_SCRIPT.search(page.text), f"{path} has an inline script"
            assert "<style" not in page.text and " style=" not in page.text, f"{path} has inline style"
        for path in ("/healthz", "/v1/knowledge/documents", "/openapi.json"):
            assert client.get(path).headers["x-content-type-options"] == "nosniff", path
        widget = client.get("/webchat/widget.js")
    assert widget.status_code == 200 and widget.headers["x-content-type-options"] == "nosniff"
    assert "x-frame-options" not in widget.headers and "content-security-policy" not in widget.headers
    service.assert_responsive()


def test_readyz_names_parts_and_nothing_else(service: Any) -> None:
    with service.client() as client:
        ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "database": "ok", "vector_store": "ok"}


# A service with the docs off and e-mail on (HTTP webhook and SMTP listener).

INBOUND_TOKEN = "inbound-attack-" + "t" * 24
MAIL_LIMIT = 256 * 1024


def stored_messages(service: Any) -> int:
    with sqlite3.connect(service.data_dir / "frontdesk.db") as db:
        return int(db.execute("SELECT count(*) FROM messages").fetchone()[0])


def big_mail(size: int) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = "Dana <dana@customer.example>"
    mail["To"] = "support@northwind.example"
    mail["Subject"] = "A very long question"
    mail.set_content("Where is my order?\n" + ("padding " * (size // 8)))
    return mail


def test_docs_off_and_mail_bounded_over_http_and_smtp(start_service: Callable[..., Any]) -> None:
    smtp_port = free_port()
    service = start_service(
        FRONTDESK_API_DOCS="false",
        FRONTDESK_DEMO_KB="false",
        FRONTDESK_EMAIL_FROM="support@northwind.example",
        FRONTDESK_EMAIL_INBOUND_HOST="127.0.0.1",
        FRONTDESK_EMAIL_INBOUND_PORT=str(smtp_port),
        FRONTDESK_EMAIL_INBOUND_TOKEN=INBOUND_TOKEN,
        FRONTDESK_EMAIL_MAX_BYTES=str(MAIL_LIMIT),
    )
    with service.client() as client:
        for path in ("/docs", "/openapi.json", "/redoc", "/docs/static/docs.js", "/docs/static/swagger-ui.css"):
            assert client.get(path).status_code == 404, path
        assert client.get("/console").status_code == 200
    before = stored_messages(service)

    # The HTTP webhook: the token is checked before the body is read; a declared oversize body at once.
    for declared, expected in ((40_000_000, 413), (200_000, 401)):
        head = http_head(
            "POST", "/v1/email/inbound", {"Content-Type": "message/rfc822", "Content-Length": str(declared)}
        )
        answer = exchange(service.base_url, head, [b"From: a@customer.example\r\n" + b"X" * 4096], within=10)
        assert answer.status == expected, answer.body[:300]
        assert answer.seconds < 5, f"answered after {answer.seconds:.1f} s: the body was waited for"
        assert answer.closed_after < 5, "the connection stayed open to read the rest of the body"

    # SMTP: the limit is announced in EHLO SIZE; bigger mail is refused with 552, declared or not.
    mail = big_mail(MAIL_LIMIT + 10_000)
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=20) as smtp:
        smtp.ehlo("mx.customer.example")
        assert smtp.esmtp_features["size"] == str(MAIL_LIMIT)
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:  # smtplib declares SIZE= itself
            smtp.send_message(mail)
        assert refused.value.smtp_code == 552
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=20) as smtp:
        smtp.ehlo("mx.customer.example")
        assert smtp.mail("dana@customer.example")[0] == 250  # no SIZE declared: DATA itself is counted
        assert smtp.rcpt("support@northwind.example")[0] == 250
        code, _ = smtp.data(mail.as_string())  # a str: smtplib sends it with CRLF line ends
        assert code == 552
    assert stored_messages(service) == before
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=20) as smtp:
        smtp.send_message(big_mail(1000))  # a mail within the limit is stored before its 250
    assert stored_messages(service) == before + 1
    service.assert_responsive()
