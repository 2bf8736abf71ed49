"""Three doors found in the audit, attacked on a running `frontdesk serve`: a visitor token put in the
WebSocket's URL, an agent resolving a conversation only offered to them, and a replayed Twilio `failed`
status callback. Each is refused (or changes nothing), and the service keeps answering."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fakes.twilio import FakeTwilio
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

PASSWORD = "a long console password"
OUR_WHATSAPP = "whatsapp:+15559990000"
PUBLIC = "https://support.example.test"
HUMAN = "I want to talk to a human about my refund, please"


def _ws_url(base_url: str) -> str:
    return base_url.replace("http://", "ws://") + "/v1/webchat/ws"


def test_a_valid_token_in_the_websocket_url_is_refused_with_4401(served: Any) -> None:
    service = served
    with service.client() as client:
        session = client.post("/v1/webchat/sessions").json()
    token = session["token"]
    with connect(f"{_ws_url(service.base_url)}?token={token}", open_timeout=10) as ws:
        with contextlib.suppress(ConnectionClosed):  # the service may close before this frame arrives
            ws.send(json.dumps({"type": "auth", "token": token}))  # a proper frame after it does not help
        refused = json.loads(ws.recv(timeout=10))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert refused["type"] == "error" and refused["code"] == "unauthorized", refused
    assert "?token=" in refused["reason"] and token not in refused["reason"]
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    log = service.log.read_text(errors="replace")
    assert token not in log and "token=[redacted]" in log, "uvicorn logs the URL at info level, token blanked"

    # Nothing was done with it: the same token, sent the right way, finds its conversation untouched.
    with connect(_ws_url(service.base_url), open_timeout=10) as ws:
        ws.send(json.dumps({"type": "auth", "token": token}))
        hello = json.loads(ws.recv(timeout=10))
    assert hello["type"] == "hello" and hello["conversation_id"] == session["conversation_id"]
    assert hello["history"] == []
    service.assert_responsive()


@pytest.fixture(scope="module")
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


@pytest.fixture(scope="module")
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, twilio: FakeTwilio) -> Any:
    """A service with Twilio WhatsApp wired to the fake (behind `PUBLIC`, for the signatures), logging at info
    level (so that a URL with a token would show in its log); shared by this module's tests, which leave it as
    they found it but for what they refuse. Started with `launch` from tests/security/conftest.py, with more
    time than `start_service` gives, as a loaded machine ingests the demo help centre slowly."""
    here = Path(__file__).with_name("conftest.py").resolve()
    plugins = request.config.pluginmanager.get_plugins()
    security = next(p for p in plugins if Path(str(getattr(p, "__file__", ""))).resolve() == here)
    overrides = {
        "FRONTDESK_TWILIO_ACCOUNT_SID": twilio.account_sid,
        "FRONTDESK_TWILIO_AUTH_TOKEN": twilio.auth_token,
        "FRONTDESK_TWILIO_API_BASE_URL": twilio.base_url,
        "FRONTDESK_TWILIO_WHATSAPP_FROM": OUR_WHATSAPP,
        "FRONTDESK_LOG_LEVEL": "info",
        "FRONTDESK_PUBLIC_BASE_URL": PUBLIC,
    }
    running = security.launch(tmp_path_factory.mktemp("misc"), overrides, seconds=900)
    yield running
    security.stop(running)


class Proxy:
    """Where the fake posts status callbacks: to the service, as a proxy in front of `PUBLIC` would."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def post(self, url: str, *, data: Any, headers: Any) -> httpx.Response:
        return httpx.post(url.replace(PUBLIC, self.base_url), data=data, headers=headers, timeout=30)


def _add_agent(service: Any, agent_id: str, role: str = "agent") -> None:
    command = [sys.executable, "-m", "frontdesk.cli", "agents", "add", "--id", agent_id, "--name", agent_id.title()]
    command += ["--email", f"{agent_id}@support.example", "--role", role, "--password-stdin"]
    result = subprocess.run(
        command,
        env=service.env,
        cwd=service.data_dir.parent,
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _sign_in(service: Any, agent_id: str) -> tuple[httpx.Client, dict[str, str]]:
    client = service.client()
    me = client.post(
        "/v1/console/session",
        json={"login": agent_id, "password": PASSWORD},
        headers={"X-Requested-With": "frontdesk-console"},
    )
    assert me.status_code == 200, me.text
    # The session cookie is Secure (the public URL is https), so httpx keeps it off this plain-http hop that
    # the proxy in front of `PUBLIC` would make: send it as that proxy would.
    cookie = "; ".join(f"{name}={value}" for name, value in me.cookies.items())
    assert cookie, me.headers
    return client, {"X-CSRF-Token": me.json()["csrf_token"], "Cookie": cookie}


def test_an_offered_agent_cannot_resolve_and_a_replayed_failed_callback_adds_one_note(
    served: Any, twilio: FakeTwilio
) -> None:
    service = served
    # -- an agent only offered a conversation tries to resolve it ------------------------------------------
    _add_agent(service, "ana")
    ana, csrf = _sign_in(service, "ana")
    try:
        assert ana.put("/v1/console/me/status", json={"status": "online"}, headers=csrf).status_code == 200
        escalated = ana.post("/v1/conversations/c-attack/messages", json={"text": HUMAN}, headers=service.admin_headers)
        assert escalated.status_code == 200 and escalated.json()["escalation"] is not None, escalated.text
        offers: list[dict[str, Any]] = []
        deadline = time.monotonic() + 20
        while not offers and time.monotonic() < deadline:
            offers = ana.get("/v1/console/offers", headers=csrf).json()
            time.sleep(0.2)
        assert offers, "the escalation was offered to ana"
        before = ana.get("/v1/console/conversations/c-attack", headers=csrf).json()
        refused = ana.post("/v1/console/conversations/c-attack/resolve", json={"reason": "gone"}, headers=csrf)
        assert refused.status_code == 403 and "accept the offer" in refused.json()["detail"], refused.text
        after = ana.get("/v1/console/conversations/c-attack", headers=csrf).json()
        assert after["ticket"]["state"] == before["ticket"]["state"] == "offered"
        assert after["conversation"]["status"] == before["conversation"]["status"] == "escalated"
        assert after["messages"] == before["messages"]
        assert [o["id"] for o in ana.get("/v1/console/offers", headers=csrf).json()] == [offers[0]["id"]]
    finally:
        ana.close()
    service.assert_responsive()

    # -- a failed status callback, captured and replayed ----------------------------------------------------
    customer = "whatsapp:+15550008888"
    params = twilio.incoming_message(customer, OUR_WHATSAPP, "Where is your Lakeview store?")
    twilio.callback_client = Proxy(service.base_url)
    assert twilio.post_webhook(f"{PUBLIC}/twilio/messages", params).status_code == 200
    deadline = time.monotonic() + 60
    while not [m for m in twilio.sent if m.to == customer] and time.monotonic() < deadline:
        time.sleep(0.2)
    [reply] = [m for m in twilio.sent if m.to == customer]
    twilio.set_status(reply.sid, "failed", error_code=30008)
    [first] = twilio.flush_callbacks()
    assert first.status_code == 204, first.text
    callback, _ = twilio.posted[-1]
    for _ in range(5):  # Twilio's retries, or an attacker replaying the captured, validly signed callback
        again = twilio.post_webhook(callback.url, callback.params, signature=callback.signature)
        assert again.status_code == 204, again.text
    late = {**callback.params, "MessageStatus": "delivered", "SmsStatus": "delivered"}
    late.pop("ErrorCode")
    assert twilio.post_webhook(callback.url, late).status_code == 204
    engine = sa.create_engine(f"sqlite:///{service.data_dir / 'frontdesk.db'}")
    try:
        with engine.connect() as conn:
            notes = conn.execute(
                sa.text("SELECT text FROM messages WHERE role = 'system' AND text LIKE '%not delivered%'")
            ).all()
            status = conn.execute(
                sa.text("SELECT status FROM delivery_status WHERE provider_message_id = :sid"), {"sid": reply.sid}
            ).scalar_one()
    finally:
        engine.dispose()
    assert len(notes) == 1, notes
    assert status == "failed", "the late 'delivered' did not move it backwards"
    service.assert_responsive()
