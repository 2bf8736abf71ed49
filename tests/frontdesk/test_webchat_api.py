"""The web chat API: sessions, the WebSocket (streamed answers, resume, hand-off, ratings), the REST fallback,
and a person's reply travelling from the inbox through the outbox to the visitor's open window."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from agent.agent import SupportAgent
from agent.escalation import EscalationPolicy
from analytics import EventKind
from channels.webchat.tokens import VisitorTokens
from conversations.inbox import WITH_A_PERSON, Inbox
from conversations.outbox import SENT, OutboxEntry
from conversations.store import ConversationStore
from conversations.webchat import WebchatService
from frontdesk.api.webchat_socket import QueryTokenRedaction, redact_query_tokens
from frontdesk.app import create_app
from frontdesk.runtime import Runtime
from frontdesk.settings import Settings
from knowledge.embeddings import SentenceTransformerEmbedder

LAKEVIEW = "Where is your Lakeview store?"
STORES_ARTICLE = "Store locations, opening hours and parking"

Frame = dict[str, Any]


ADMIN_TOKEN = "webchat-tests-admin-token-0123456789abcdef"
API = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbedder) -> Iterator[TestClient]:
    settings = Settings(  # type: ignore[call-arg]
        data_dir=tmp_path_factory.mktemp("webchat") / "data", admin_token=ADMIN_TOKEN, _env_file=None
    )
    with TestClient(create_app(settings, embedder=embedder)) as c:
        yield c


def _runtime(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def _session(client: TestClient) -> tuple[str, str]:
    response = client.post("/v1/webchat/sessions")
    assert response.status_code == 201
    body = response.json()
    assert body["visitor_id"].startswith("visitor-") and body["conversation_id"].startswith("webchat-")
    return body["token"], body["conversation_id"]


@contextmanager
def _chat(client: TestClient, token: str) -> Iterator[WebSocketTestSession]:
    """A chat window, its token sent in the first frame (never in the URL)."""
    with client.websocket_connect("/v1/webchat/ws") as ws:
        ws.send_json({"type": "auth", "token": token})
        yield ws


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _until(ws: WebSocketTestSession, kind: str, limit: int = 500) -> list[Frame]:
    """Frames up to and including the first of type `kind`."""
    frames: list[Frame] = []
    for _ in range(limit):
        frames.append(ws.receive_json())
        if frames[-1]["type"] == kind:
            return frames
    raise AssertionError(f"no {kind!r} frame in {frames}")


def _ask(ws: WebSocketTestSession, client_id: str, text: str) -> list[Frame]:
    ws.send_json({"type": "message", "id": client_id, "text": text})
    return _until(ws, "reply")


def test_a_new_session_says_hello_with_an_empty_history(client: TestClient) -> None:
    token, conversation_id = _session(client)
    with _chat(client, token) as ws:
        hello = ws.receive_json()
    assert hello == {
        "type": "hello",
        "conversation_id": conversation_id,
        "status": "bot",
        "notice": None,
        "rating": None,
        "history": [],
    }


def test_the_answer_streams_then_arrives_whole_with_its_citations_and_resumes_after_a_reload(
    client: TestClient,
) -> None:
    token, conversation_id = _session(client)
    with _chat(client, token) as ws:
        assert ws.receive_json()["type"] == "hello"
        frames = _ask(ws, "m-1", LAKEVIEW)
    kinds = [frame["type"] for frame in frames]
    assert kinds[:2] == ["customer_message", "typing"], "the visitor sees that an answer is being written"
    # an answer written at once (the offline writer's) streams a sentence a frame; the widget reveals each word
    assert kinds.count("delta") >= 1 and kinds[-1] == "reply"
    reply = frames[-1]
    streamed = "".join(frame["text"] for frame in frames if frame["type"] == "delta")
    assert streamed.strip() == reply["text"].strip() and "Lakeview" in reply["text"]
    assert "[1]" not in reply["text"], "citation markers become a list of sources"
    assert reply["citations"][0]["title"] == STORES_ARTICLE
    assert reply["citations"][0]["url"].startswith("https://help.northwind-bikes.example/")
    assert reply["id"] == "m-1" and reply["message_id"] and reply["customer_message_id"]

    # A reload: a new connection with the token from localStorage shows the conversation so far.
    with _chat(client, token) as ws:
        hello = ws.receive_json()
    assert hello["conversation_id"] == conversation_id
    history = hello["history"]
    assert [(m["role"], m["text"]) for m in history] == [("customer", LAKEVIEW), ("agent", reply["text"])]
    assert history[0]["client_id"] == "m-1" and history[1]["id"] == reply["message_id"]
    assert history[1]["citations"] == reply["citations"]


def test_a_retried_message_id_is_answered_once(client: TestClient) -> None:
    token, conversation_id = _session(client)
    with _chat(client, token) as ws:
        ws.receive_json()
        first = _ask(ws, "retry-1", "How long do refunds take?")[-1]
        again = _ask(ws, "retry-1", "How long do refunds take?")
    assert [frame["type"] for frame in again][-1] == "reply"
    assert again[-1]["text"] == first["text"] and again[-1]["message_id"] == first["message_id"]
    assert not [frame for frame in again if frame["type"] == "delta"], "the stored answer, not a new one"
    rest = client.post(
        "/v1/webchat/messages", json={"id": "retry-1", "text": "How long do refunds take?"}, headers=_auth(token)
    )
    assert rest.json()["reply"]["message_id"] == first["message_id"]
    messages = ConversationStore(_runtime(client).engine).messages(conversation_id)
    assert [m.role for m in messages] == ["customer", "agent"]


def test_visitors_cannot_reach_each_other_s_conversations(client: TestClient) -> None:
    token_a, conversation_a = _session(client)
    token_b, conversation_b = _session(client)
    with _chat(client, token_a) as ws:
        ws.receive_json()
        answer_a = _ask(ws, "same-id", LAKEVIEW)[-1]

    # B names A's conversation with B's own token: refused.
    refused = client.get("/v1/webchat/history", params={"conversation_id": conversation_a}, headers=_auth(token_b))
    assert refused.status_code == 403 and "does not open" in refused.json()["detail"]

    # B puts A's payload in front of B's signature: it no longer matches.
    forged = ".".join([token_a.split(".")[0], token_a.split(".")[1], token_b.split(".")[2]])
    assert client.get("/v1/webchat/history", headers=_auth(forged)).status_code == 401
    assert client.post("/v1/webchat/messages", json={"text": "hi"}, headers=_auth(forged)).status_code == 401
    with _chat(client, forged) as ws:
        error = ws.receive_json()
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert error["type"] == "error" and error["code"] == "unauthorized" and "signature" in error["reason"]
    assert closed.value.code == 4401

    # B reusing A's client message id gets B's own answer, never A's.
    with _chat(client, token_b) as ws:
        assert ws.receive_json()["history"] == []
        answer_b = _ask(ws, "same-id", "How do I pause my subscription?")[-1]
    assert answer_b["text"] != answer_a["text"] and "paus" in answer_b["text"].lower()
    history_a = client.get("/v1/webchat/history", headers=_auth(token_a)).json()
    assert history_a["conversation_id"] == conversation_a != conversation_b
    assert [m["text"] for m in history_a["messages"]] == [LAKEVIEW, answer_a["text"]]


def test_missing_unknown_and_bad_input_are_clear_4xx(client: TestClient) -> None:
    missing = client.get("/v1/webchat/history")
    assert missing.status_code == 401 and "POST /v1/webchat/sessions" in missing.json()["detail"]
    assert missing.headers["www-authenticate"] == "Bearer"
    assert client.get("/v1/webchat/history", headers=_auth("nonsense")).status_code == 401
    token, conversation_id = _session(client)
    assert client.post("/v1/webchat/messages", json={"text": "x" * 4001}, headers=_auth(token)).status_code == 422
    assert client.post("/v1/webchat/messages", json={"text": "   "}, headers=_auth(token)).status_code == 422
    bad_id = client.post("/v1/webchat/messages", json={"id": "no spaces", "text": "hi"}, headers=_auth(token))
    assert bad_id.status_code == 422
    assert client.post("/v1/webchat/rating", json={"score": 9}, headers=_auth(token)).status_code == 422
    with _chat(client, "") as ws:
        assert ws.receive_json()["code"] == "unauthorized"

    ConversationStore(_runtime(client).engine).delete([conversation_id])
    gone = client.get("/v1/webchat/history", headers=_auth(token))
    assert gone.status_code == 404 and conversation_id in gone.json()["detail"]
    with _chat(client, token) as ws:
        assert ws.receive_json()["code"] == "not_found"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 4404


def test_bad_frames_are_answered_with_a_reason_and_the_chat_goes_on(client: TestClient) -> None:
    token, _ = _session(client)
    with _chat(client, token) as ws:
        ws.receive_json()
        ws.send_text("not json")
        assert ws.receive_json()["code"] == "bad_frame"
        ws.send_json({"type": "message", "id": "m-1", "text": "x" * 4001})
        too_long = ws.receive_json()
        assert too_long["code"] == "bad_frame" and "at most 4000" in too_long["reason"]
        ws.send_json({"type": "dance"})
        assert "dance" in ws.receive_json()["reason"]
        ws.send_json({"type": "typing"})
        assert _ask(ws, "m-2", LAKEVIEW)[-1]["type"] == "reply"


def test_asking_for_a_person_escalates_and_says_when_one_will_reply(client: TestClient) -> None:
    token, conversation_id = _session(client)
    with _chat(client, token) as ws:
        ws.receive_json()
        _ask(ws, "m-1", LAKEVIEW)
        ws.send_json({"type": "human"})
        status = ws.receive_json()
        assert status["type"] == "status" and status["status"] == "escalated"
        assert status["reason"] == "customer_asked_for_human"
        assert "person from our team will reply here as soon as someone is available" in status["text"]
        ws.send_json({"type": "human"})
        assert ws.receive_json()["type"] == "status", "asking again is harmless"
        held = _ask(ws, "m-2", "Are you still there?")[-1]
    assert held["text"] == WITH_A_PERSON, "the bot no longer answers; the message waits for the person"

    conversation = client.get(f"/v1/conversations/{conversation_id}", headers=API).json()
    assert conversation["status"] == "escalated" and conversation["escalation_reason"] == "customer_asked_for_human"
    ticket = client.app.state.runtime.router.ticket_for(conversation_id)  # type: ignore[attr-defined]
    assert ticket is not None and ticket.reason == "customer_asked_for_human", "routing queued it for a person"
    stored = client.app.state.runtime.inbox.store.messages(conversation_id)  # type: ignore[attr-defined]
    notes = [m for m in stored if m.role == "system"]
    assert len(notes) == 1 and notes[0].details["event"] == "human_requested"
    history = client.get("/v1/webchat/history", headers=_auth(token)).json()
    assert history["status"] == "escalated" and history["notice"] == status["notice"]
    assert "Waiting for a person" in history["notice"] and "10 minutes" in history["notice"]
    assert [m["role"] for m in history["messages"]] == ["customer", "agent", "system", "customer"]

    token_rest, conversation_rest = _session(client)
    response = client.post("/v1/webchat/human", headers=_auth(token_rest))
    assert response.status_code == 200 and response.json()["status"] == "escalated"
    assert client.get(f"/v1/conversations/{conversation_rest}", headers=API).json()["status"] == "escalated"


def test_a_rating_is_stored_and_the_latest_counts(client: TestClient) -> None:
    token, conversation_id = _session(client)
    with _chat(client, token) as ws:
        ws.receive_json()
        ws.send_json({"type": "rating", "score": 3})
        assert ws.receive_json() == {"type": "rated", "score": 3}
        ws.send_json({"type": "rating", "score": 6})
        assert ws.receive_json()["code"] == "bad_frame"
    rest = client.post(
        "/v1/webchat/rating", json={"score": 5, "comment": "Quick! Call me on +44 7700 900123"}, headers=_auth(token)
    )
    assert rest.json() == {"type": "rated", "score": 5}
    history = client.get("/v1/webchat/history", headers=_auth(token)).json()
    assert history["rating"] == 5 and history["messages"] == [], "ratings are not shown as messages"
    stored = [m for m in ConversationStore(_runtime(client).engine).messages(conversation_id) if m.role == "system"]
    assert [m.details["rating"] for m in stored] == [3, 5]
    assert "7700" not in (stored[1].details["comment"] or ""), "personal data in comments is redacted"
    log = _runtime(client).interaction_log
    assert log is not None
    log.flush()
    ratings = [e for e in log.events(conversation_id=conversation_id) if e.kind is EventKind.RATING]
    assert [(e.value, e.channel) for e in ratings] == [(3.0, "webchat"), (5.0, "webchat")]
    assert "Quick!" in ratings[1].data["comment"] and "7700" not in ratings[1].data["comment"]


def test_the_rest_fallback_answers_as_json_or_server_sent_events(client: TestClient) -> None:
    token, _ = _session(client)
    plain = client.post("/v1/webchat/messages", json={"id": "r-1", "text": LAKEVIEW}, headers=_auth(token)).json()
    assert plain["reply"]["citations"][0]["title"] == STORES_ARTICLE and plain["status"] is None
    streamed = client.post(
        "/v1/webchat/messages",
        json={"id": "r-2", "text": "and is there parking?"},
        headers={**_auth(token), "Accept": "text/event-stream"},
    )
    assert streamed.headers["content-type"].startswith("text/event-stream")
    events = []
    for block in streamed.text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    kinds = [kind for kind, _ in events]
    assert "delta" in kinds and kinds[-2:] == ["reply", "done"]
    assert "park" in events[-2][1]["text"].lower()
    newer = client.get(
        "/v1/webchat/history", params={"after": plain["reply"]["message_id"]}, headers=_auth(token)
    ).json()
    assert [m["role"] for m in newer["messages"]] == ["customer", "agent"], "polling gets only what is new"


def test_cross_origin_requests_from_the_embedding_site_are_allowed(client: TestClient) -> None:
    origin = {"Origin": "https://shop.example"}
    preflight = client.options(
        "/v1/webchat/messages",
        headers={**origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"},
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "https://shop.example"
    assert "Authorization" in preflight.headers["access-control-allow-headers"]
    created = client.post("/v1/webchat/sessions", headers=origin)
    assert created.headers["access-control-allow-origin"] == "https://shop.example"
    refused = client.get("/v1/webchat/history", headers=origin)
    assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == "https://shop.example"


def test_a_person_s_reply_reaches_the_open_window_through_the_outbox(client: TestClient) -> None:
    runtime = _runtime(client)
    assert "webchat" in runtime.channels and runtime.outbox_worker is not None
    token, conversation_id = _session(client)
    portal = client.portal
    assert portal is not None
    with _chat(client, token) as ws:
        ws.receive_json()
        ws.send_json({"type": "human"})
        assert ws.receive_json()["type"] == "status"
        # The agent console's call, made on the event loop as a route would.
        portal.call(lambda: runtime.inbox.post_reply(conversation_id, "Hi, this is Sam. The Lakeview store is open."))
        frame = ws.receive_json()
    assert frame["type"] == "human_message" and frame["text"] == "Hi, this is Sam. The Lakeview store is open."
    [entry] = _wait_until_sent(client, runtime, conversation_id, 1)
    assert entry.channel == "webchat" and entry.last_error == "shown in 1 open chat window"

    # With no window open, the reply is delivered to the history and shown on the next visit.
    portal.call(lambda: runtime.inbox.post_reply(conversation_id, "Let me know if I can help with anything else."))
    newest = _wait_until_sent(client, runtime, conversation_id, 2)[0]
    assert newest.last_error is not None and newest.last_error.startswith("visitor offline")
    with _chat(client, token) as ws:
        history = ws.receive_json()["history"]
    assert [m["role"] for m in history][-2:] == ["human", "human"]


def _wait_until_sent(client: TestClient, runtime: Runtime, conversation_id: str, count: int) -> list[OutboxEntry]:
    """The conversation's outbox rows, newest first, once `count` of them were sent."""
    portal = client.portal
    assert portal is not None
    for _ in range(100):
        entries = runtime.outbox.entries(conversation_id=conversation_id)
        if len(entries) == count and all(e.status == SENT for e in entries):
            return entries
        portal.call(anyio.sleep, 0.05)
    raise AssertionError(f"the outbox did not deliver: {runtime.outbox.entries()}")


def test_the_demo_shop_and_the_widget_are_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "Northwind Bikes" in page.text
    assert '<script src="/webchat/widget.js"' in page.text
    assert client.get("/demo").status_code == 200
    script = client.get("/webchat/widget.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert client.get("/webchat/widget.css").headers["content-type"].startswith("text/css")
    assert client.get("/webchat/secrets.txt").status_code == 404


async def test_a_retry_while_the_answer_is_written_waits_for_that_answer(
    engine: sa.Engine, demo_agent: SupportAgent
) -> None:
    """A window that reconnects and resends while its answer is being written gets no second answer, and no
    "a person has this conversation" either: it waits, and the answer reaches it through the hub."""
    service = WebchatService(Inbox(ConversationStore(engine), demo_agent, EscalationPolicy()), VisitorTokens(b"k" * 32))
    session = await service.start_session()
    first = service.converse(session.visitor, "m-1", LAKEVIEW)
    async for frame in first:
        if frame["type"] == "delta":  # stored and being answered by now
            break
    retry = [frame async for frame in service.converse(session.visitor, "m-1", LAKEVIEW)]
    assert retry == [{"type": "typing", "who": "agent", "active": True}]
    rest = [frame async for frame in first]
    assert rest[-1]["type"] == "reply" and "Lakeview" in rest[-1]["text"]
    assert [m.role for m in service.inbox.store.messages(session.visitor.conversation_id)] == ["customer", "agent"]


def test_the_token_comes_in_the_first_frame_and_never_in_the_url(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    token, conversation_id = _session(client)
    with _chat(client, token) as ws:
        assert ws.receive_json()["conversation_id"] == conversation_id
    with client.websocket_connect("/v1/webchat/ws") as ws:
        ws.send_json({"type": "message", "id": "m-1", "text": "hi"})
        refused = ws.receive_json()
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert refused["code"] == "unauthorized" and '"type": "auth"' in refused["reason"]
    assert closed.value.code == 4401

    # A valid token in the URL is refused before it is read, even with the auth frame that follows it.
    before = len(ConversationStore(_runtime(client).engine).messages(conversation_id))
    with caplog.at_level("DEBUG"), client.websocket_connect(f"/v1/webchat/ws?token={token}") as ws:
        ws.send_json({"type": "auth", "token": token})
        refused = ws.receive_json()
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert refused["type"] == "error" and refused["code"] == "unauthorized"
    assert "?token=" in refused["reason"] and '"type": "auth"' in refused["reason"]
    assert token not in refused["reason"] and closed.value.code == 4401
    assert token not in caplog.text
    assert len(ConversationStore(_runtime(client).engine).messages(conversation_id)) == before


def test_a_token_in_a_logged_url_is_blanked() -> None:
    record = logging.LogRecord(
        "uvicorn.error",
        logging.INFO,
        __file__,
        1,
        '%s - "WebSocket %s" [accepted]',
        ("127.0.0.1:5000", "/v1/webchat/ws?lang=en&token=eyJhbGciOi.payload.sig&x=1"),
        None,
    )
    assert QueryTokenRedaction().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "WebSocket /v1/webchat/ws?lang=en&token=[redacted]&x=1" [accepted]'
    access = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, "GET /x?token=abc HTTP/1.1 200", None, None)
    assert QueryTokenRedaction().filter(access) and access.getMessage() == "GET /x?token=[redacted] HTTP/1.1 200"
    redact_query_tokens("frontdesk.test.redaction")
    redact_query_tokens("frontdesk.test.redaction")
    filters = logging.getLogger("frontdesk.test.redaction").filters
    assert [type(f) for f in filters] == [QueryTokenRedaction], "added once"


def test_a_proactive_notice_reaches_customers_asking_about_the_incident_once(client: TestClient) -> None:
    service = client.app.state.webchat  # type: ignore[attr-defined]
    notice = "We know card payments are failing right now and are fixing it."
    service.proactive = lambda text: ("alert-7", notice) if "card" in text.lower() else None
    try:
        token, conversation_id = _session(client)
        with _chat(client, token) as ws:
            ws.receive_json()
            first = _ask(ws, "m1", "My card payment was declined")
            second = _ask(ws, "m2", "Is my card payment going to work later?")
            other = _ask(ws, "m3", "Where is the Lakeview store?")
        shown = [f for f in first if f["type"] == "notice"]
        assert [f["text"] for f in shown] == [notice], "shown before the answer to the first message on the topic"
        assert [f["type"] for f in first].index("notice") < [f["type"] for f in first].index("reply")
        assert not [f for f in second + other if f["type"] == "notice"], "once per conversation"
        history = client.get("/v1/webchat/history", headers=_auth(token)).json()
        assert notice in [m["text"] for m in history["messages"]], "the notice stays in the transcript"
        other_token, _ = _session(client)
        with _chat(client, other_token) as ws:
            ws.receive_json()
            assert [f["text"] for f in _ask(ws, "m1", "card declined?") if f["type"] == "notice"] == [notice]
    finally:
        service.proactive = None
