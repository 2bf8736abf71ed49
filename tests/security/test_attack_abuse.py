"""Abuse of a running service: bursts of sessions, messages, hand-offs and searches, spoofed client addresses,
and password guessing. Each attack is refused with 429 and a Retry-After, changes nothing, and the service
keeps answering (the right password after the delay still signs in: no lockout)."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import redis
from conftest import RunningService
from websockets.sync.client import connect

PASSWORD = "the right password, at last"
SIGN_IN = {"X-Requested-With": "frontdesk-console"}
LOW_LIMITS = {
    "FRONTDESK_RATE_LIMIT_SESSIONS": "3/hour",
    "FRONTDESK_RATE_LIMIT_MESSAGES_PER_VISITOR": "2/minute",
    "FRONTDESK_RATE_LIMIT_HANDOFFS_PER_VISITOR": "1/hour",
    "FRONTDESK_RATE_LIMIT_SEARCHES": "3/minute",
}


def _refused(response: httpx.Response, what: str) -> int:
    assert response.status_code == 429, f"{what}: {response.status_code} {response.text}"
    wait = int(response.headers["retry-after"])
    assert wait >= 1
    assert "too many" in response.json()["detail"]
    return wait


def _session(http: httpx.Client, headers: dict[str, str] | None = None) -> httpx.Response:
    return http.post("/v1/webchat/sessions", headers=headers or {})


def _history(http: httpx.Client, token: str) -> list[dict[str, object]]:
    answer = http.get("/v1/webchat/history", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    messages: list[dict[str, object]] = answer.json()["messages"]
    return messages


def test_bursts_from_one_client_are_refused_with_retry_after(start_service: Callable[..., RunningService]) -> None:
    service = start_service(**LOW_LIMITS)
    with service.client() as http:
        first, second, third = (_session(http) for _ in range(3))
        assert {first.status_code, second.status_code, third.status_code} == {201}
        # A spoofed X-Forwarded-For from a peer that is no trusted proxy changes nothing: still 127.0.0.1.
        spoofed = _session(http, {"X-Forwarded-For": "198.51.100.77", "Forwarded": "for=198.51.100.78"})
        _refused(spoofed, "a fourth session from one address")

        token = first.json()["token"]
        bearer = {"Authorization": f"Bearer {token}"}
        for text in ("Where is my order?", "How do I reset my password?"):
            assert http.post("/v1/webchat/messages", json={"text": text}, headers=bearer).status_code == 200
        before = _history(http, token)
        flood = http.post("/v1/webchat/messages", json={"text": "and another one"}, headers=bearer)
        _refused(flood, "a third message in a minute from one visitor")
        assert _history(http, token) == before, "the refused message was not stored"

        # The WebSocket refuses the same visitor's next message with a frame, and stays open.
        ws_url = service.base_url.replace("http://", "ws://") + "/v1/webchat/ws"
        with connect(ws_url, open_timeout=30) as socket:
            socket.send(json.dumps({"type": "auth", "token": token}))
            assert json.loads(socket.recv(timeout=30))["type"] == "hello"
            socket.send(json.dumps({"type": "message", "id": "m-flood-1", "text": "hello?"}))
            frame = json.loads(socket.recv(timeout=30))
            assert frame["type"] == "error" and frame["code"] == "rate_limited", frame
            assert frame["retry_after"] >= 1 and frame["id"] == "m-flood-1"
            socket.send("not json")
            assert json.loads(socket.recv(timeout=30))["code"] == "bad_frame", "the socket is still open"
        assert _history(http, token) == before

        other = {"Authorization": f"Bearer {second.json()['token']}"}
        assert http.post("/v1/webchat/human", headers=other).status_code == 200
        _refused(http.post("/v1/webchat/human", headers=other), "a second hand-off in an hour")

        for _ in range(3):
            assert http.get("/v1/knowledge/search", params={"q": "refund"}).status_code == 200
        _refused(http.get("/v1/knowledge/search", params={"q": "refund"}), "a fourth search in a minute")
        _refused(http.post("/v1/knowledge/search", json={"query": "refund"}), "POST search counts too")
    service.assert_responsive()


def test_a_trusted_proxy_names_the_client_and_redis_holds_the_count(
    start_service: Callable[..., RunningService], redis_url: str
) -> None:
    service = start_service(
        FRONTDESK_TRUSTED_PROXIES="127.0.0.1",
        FRONTDESK_REDIS_URL=redis_url,
        FRONTDESK_RATE_LIMIT_SESSIONS="2/hour",
    )
    client_a = f"198.51.100.{secrets.randbelow(200) + 1}"
    client_b = f"203.0.113.{secrets.randbelow(200) + 1}"
    store = redis.Redis.from_url(redis_url)
    try:
        with service.client() as http:
            # The client may put anything on the left; the proxy (127.0.0.1) appended the real address.
            via_proxy = {"X-Forwarded-For": f"6.6.6.6, {client_a}"}
            assert _session(http, via_proxy).status_code == 201
            assert _session(http, via_proxy).status_code == 201
            _refused(_session(http, via_proxy), "a third session from the forwarded address")
            assert _session(http, {"X-Forwarded-For": f"{client_a}, {client_b}"}).status_code == 201
            assert _session(http, {"Forwarded": f'for="{client_b}:4711"'}).status_code == 201
        keys = list(store.scan_iter(f"frontdesk-limits:*{client_a}*"))
        assert keys, "the count lives in Redis, shared by every worker"
    finally:
        stale = [*store.scan_iter(f"frontdesk-limits:*{client_a}*"), *store.scan_iter(f"frontdesk-limits:*{client_b}*")]
        if stale:
            store.delete(*stale)
    service.assert_responsive()


def _add_agent(service: RunningService) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "frontdesk.cli", "agents", "add", "--id", "maria", "--name", "Maria Keller"]
        + ["--email", "maria@shop.example", "--password-stdin"],
        env=service.env,
        cwd=service.data_dir.parent,
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _sign_in(http: httpx.Client, password: str, login: str = "maria") -> httpx.Response:
    return http.post("/v1/console/session", json={"login": login, "password": password}, headers=SIGN_IN)


def test_guessing_a_password_slows_down_but_never_locks_the_agent_out(
    start_service: Callable[..., RunningService],
) -> None:
    service = start_service(FRONTDESK_CONSOLE_SIGN_IN_LIMIT="3")
    _add_agent(service)
    with service.client() as http:
        for guess in ("maria", "maria123", "password1"):
            assert _sign_in(http, guess).status_code == 401
        wait = _refused(_sign_in(http, PASSWORD), "the right password too early")
        assert wait == 1, "the fourth attempt waits 1 s"
        _refused(_sign_in(http, "keller", login="MARIA@shop.example"), "the e-mail is the same account")

        time.sleep(wait + 0.1)
        started = time.monotonic()
        with ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(lambda i: _sign_in(http, f"guess {i}").status_code, range(12)))
        elapsed = time.monotonic() - started
        tried = answers.count(401)
        assert set(answers) <= {401, 429}
        # After the 4th failure each next try waits 2, 4, 8 ... s: in `elapsed` seconds at most this many.
        assert 1 <= tried <= 1 + int(elapsed // 2), (answers, elapsed)

        retry = _refused(_sign_in(http, PASSWORD), "while the delay runs")
        time.sleep(retry + 0.1)
        signed_in = _sign_in(http, PASSWORD)
        assert signed_in.status_code == 200, "the right password after the delay signs in: no lockout"
        assert signed_in.json()["id"] == "maria"
    service.assert_responsive()
