"""The console's live feed on SQLite and PostgreSQL: the WebSocket's cookie and origin checks, offers and
customer messages pushed at once, changes made by another worker shown by the periodic refresh, and a page
closed when its session ends."""

from __future__ import annotations

import json
import time
from typing import Any

import anyio
import pytest
from conftest import API, ORIGIN, ConsoleHarness, SignedIn
from starlette.testclient import WebSocketTestSession

from routing import EscalationRequest, Router

Frame = dict[str, Any]


def _next(ws: WebSocketTestSession, timeout: float = 10.0) -> Frame:
    """The next frame, or {"type": "closed", "code": ...}; fails after `timeout` seconds of silence."""

    async def receive() -> Any:
        with anyio.fail_after(timeout):
            return await ws._send_rx.receive()

    message = ws.portal.call(receive)
    if message["type"] == "websocket.close":
        return {"type": "closed", "code": message.get("code")}
    frame: Frame = json.loads(message["text"])
    return frame


def _until(ws: WebSocketTestSession, wanted: Any, timeout: float = 10.0) -> list[Frame]:
    """Frames up to and including the first for which `wanted(frame)` holds."""
    seen: list[Frame] = []
    for _ in range(200):
        seen.append(_next(ws, timeout))
        if wanted(seen[-1]):
            return seen
        if seen[-1]["type"] == "closed":
            break
    pytest.fail(f"the wanted frame never came: {seen}")


def _socket(console: ConsoleHarness, agent: SignedIn, origin: str | None = ORIGIN) -> Any:
    """The agent's page socket, opened through the client that runs the app (one event loop, as in uvicorn;
    each TestClient outside `with` would run its socket on an event loop of its own)."""
    headers = {"cookie": f"frontdesk_console={agent.http.cookies['frontdesk_console']}"}
    if origin is not None:
        headers["origin"] = origin
    return console.client.websocket_connect("/v1/console/ws", headers=headers)


def test_the_socket_needs_the_session_cookie_and_this_origin(console: ConsoleHarness) -> None:
    console.add_agent("ana")
    with console.client.websocket_connect("/v1/console/ws", headers={"origin": ORIGIN}) as ws:
        assert _next(ws) == {"type": "error", "code": "unauthorized", "reason": "not signed in, or the session ended"}
        assert _next(ws) == {"type": "closed", "code": 4401}
    ana = console.sign_in("ana")
    for origin in ("https://evil.example", None):
        with _socket(console, ana, origin) as ws:
            assert _next(ws)["code"] == "forbidden"
            assert _next(ws) == {"type": "closed", "code": 4403}
    with _socket(console, ana) as ws:
        first = _next(ws)
        assert first["type"] == "state" and first["me"]["id"] == "ana" and first["offers"] == []


def test_offers_and_customer_messages_reach_the_page_at_once(console: ConsoleHarness) -> None:
    console.add_agent("ana")
    ana = console.sign_in("ana")
    console.client.post(
        "/v1/conversations/c-other/messages", json={"text": "Where is the Lakeview store?"}, headers=API
    )
    with _socket(console, ana) as ws:
        assert _next(ws)["type"] == "state"
        console.client.post(
            "/v1/conversations/c-live/messages", json={"text": "Can I talk to a person please?"}, headers=API
        )
        frames = _until(ws, lambda f: f["type"] == "state" and f["offers"])
        assert any(f["type"] == "event" and f["event"]["kind"] == "offered" for f in frames)
        offer = frames[-1]["offers"][0]
        assert (
            offer["ticket"]["conversation_id"] == "c-live" and offer["ticket"]["reason"] == "customer_asked_for_human"
        )
        assert ana.post(f"/offers/{offer['id']}/accept").status_code == 200
        # State frames are snapshots: one built just before the acceptance may still show the offer, so wait for
        # the first that shows the conversation held and no offer.
        held = _until(ws, lambda f: f["type"] == "state" and f["conversations"] and not f["offers"])
        assert held[-1]["conversations"][0]["ticket"]["state"] == "assigned"

        ws.send_json({"type": "watch", "conversation_id": "c-other"})
        refused = _until(ws, lambda f: f["type"] == "error")
        assert refused[-1]["code"] == "forbidden"
        ws.send_json({"type": "watch", "conversation_id": "c-live"})
        console.client.post("/v1/conversations/c-live/messages", json={"text": "My order number is 4417"}, headers=API)
        pushed = _until(ws, lambda f: f["type"] == "message" and "4417" in f["message"]["text"])
        assert pushed[-1]["conversation_id"] == "c-live" and pushed[-1]["message"]["role"] == "customer"
        ws.send_json({"type": "ping"})
        assert _until(ws, lambda f: f["type"] == "pong")


def test_changes_by_another_worker_show_within_the_refresh_and_sign_out_closes_the_page(
    console: ConsoleHarness,
) -> None:
    console.add_agent("ana")
    ana = console.sign_in("ana")
    other_worker = Router(console.engine, console.router.config)  # another process: its events never reach us
    with _socket(console, ana) as ws:
        assert _next(ws)["type"] == "state"
        other_worker.escalate(EscalationRequest(conversation_id="c-elsewhere", channel="webchat", reason="test"))
        # The offer is made by the escalation itself, or, when the service's routing worker held the rows at
        # that moment (PostgreSQL skips locked rows), by that worker's next round.
        deadline = time.monotonic() + 5
        while not other_worker.offers() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [offer.agent_id for offer in other_worker.offers()] == ["ana"]
        frames = _until(ws, lambda f: f["type"] == "state" and f["offers"], timeout=3)
        assert not any(f["type"] == "event" for f in frames), "no event crossed processes; the refresh found it"
        assert frames[-1]["offers"][0]["ticket"]["conversation_id"] == "c-elsewhere"

        assert ana.delete("/session").status_code == 204
        ended = _until(ws, lambda f: f["type"] == "closed", timeout=3)
        assert {"type": "error", "code": "signed_out", "reason": "your session ended"} in ended
        assert ended[-1]["code"] == 4401
