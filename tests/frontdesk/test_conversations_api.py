"""The conversation API: a customer message in, the agent's reply out (JSON or server-sent events)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.gemini import FakeGemini, FakeReply
from fastapi.testclient import TestClient

from frontdesk.app import create_app
from frontdesk.settings import Settings
from knowledge.embeddings import SentenceTransformerEmbedder

pytestmark = [
    pytest.mark.filterwarnings("ignore:coroutine 'ClientResponse.json' was never awaited:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning"),
]


ADMIN = "conversations-api-admin-token-32-characters"


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbedder) -> Iterator[TestClient]:
    folder = tmp_path_factory.mktemp("conv") / "data"
    settings = Settings(data_dir=folder, admin_token=ADMIN, _env_file=None)  # type: ignore[call-arg]
    with TestClient(create_app(settings, embedder=embedder)) as c:
        yield c


@pytest.fixture(scope="module")
def client(app_client: TestClient) -> TestClient:
    """The app with a key that reads and writes conversations (as an integration holds one)."""
    _, key = app_client.app.state.runtime.api_keys.create("crm", ["conversations:read", "conversations:write"])  # type: ignore[attr-defined]
    app_client.headers["Authorization"] = f"Bearer {key}"
    return app_client


def _key(client: TestClient, *scopes: str) -> dict[str, str]:
    _, key = client.app.state.runtime.api_keys.create("test", list(scopes))  # type: ignore[attr-defined]
    return {"Authorization": f"Bearer {key}"}


def _sse(body: str) -> list[tuple[str, dict]]:
    events = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_reply_as_json_with_memory_and_history(client: TestClient) -> None:
    first = client.post("/v1/conversations/c-1/messages", json={"text": "Where is your Lakeview store?"})
    assert first.status_code == 200
    body = first.json()
    assert body["grounded"] and body["citations"] and "Lakeview" in body["text"]
    assert set(body) >= {"text", "citations", "confidence", "intent", "sentiment", "escalation", "writer"}
    assert body["message_id"] == body["customer_message_id"] + 1, "the stored ids of the question and the answer"
    follow = client.post("/v1/conversations/c-1/messages", json={"text": "and is there parking?"}).json()
    assert follow["grounded"] and "park" in follow["text"].lower()
    conversation = client.get("/v1/conversations/c-1").json()
    assert [m["role"] for m in conversation["messages"]] == ["customer", "agent", "customer", "agent"]
    assert conversation["bot_turns"] == 2


def test_reply_streamed_as_server_sent_events(client: TestClient) -> None:
    response = client.post(
        "/v1/conversations/c-2/messages",
        json={"text": "How do I pause my subscription?"},
        headers={"accept": "text/event-stream"},
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    events = _sse(response.text)
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "delta" and kinds[-2:] == ["reply", "done"]
    streamed = "".join(data["text"] for kind, data in events if kind == "delta")
    assert streamed.strip() == events[-2][1]["text"].strip()


def test_personal_data_is_redacted_in_what_is_stored(client: TestClient) -> None:
    client.post("/v1/conversations/c-3/messages", json={"text": "My card 4111 1111 1111 1111 was declined"})
    stored = client.get("/v1/conversations/c-3").json()["messages"][0]["text"]
    assert "4111" not in stored and "[CARD]" in stored


def test_escalation_is_recorded_on_the_conversation(client: TestClient) -> None:
    reply = client.post("/v1/conversations/c-4/messages", json={"text": "I want to speak to a human"}).json()
    assert reply["escalation"]["reason"] == "customer_asked_for_human"
    assert client.get("/v1/conversations/c-4").json()["status"] == "escalated"


def test_bad_input_is_a_clear_4xx(client: TestClient) -> None:
    assert client.post("/v1/conversations/c-5/messages", json={"text": "   "}).status_code == 422
    assert client.post("/v1/conversations/c-5/messages", json={}).status_code == 422
    assert client.post("/v1/conversations/bad id!/messages", json={"text": "hi"}).status_code == 422
    missing = client.get("/v1/conversations/never-seen")
    assert missing.status_code == 404 and "never-seen" in missing.json()["detail"]


def test_no_anonymous_read_or_write(client: TestClient) -> None:
    client.post("/v1/conversations/c-6/messages", json={"text": "Where is your Lakeview store?"})
    anonymous = {"Authorization": ""}
    r = client.post("/v1/conversations/c-6/messages", json={"text": "hi"}, headers=anonymous)
    assert r.status_code == 401 and "API key" in r.json()["detail"]
    assert client.get("/v1/conversations/c-6", headers=anonymous).status_code == 401
    wrong = {"Authorization": "Bearer fdk_0123456789_" + "x" * 43}
    assert client.get("/v1/conversations/c-6", headers=wrong).status_code == 401
    reader = _key(client, "conversations:read")
    r = client.post("/v1/conversations/c-6/messages", json={"text": "hi"}, headers=reader)
    assert r.status_code == 403 and "conversations:write" in r.json()["detail"]
    writer = _key(client, "conversations:write")
    r = client.get("/v1/conversations/c-6", headers=writer)
    assert r.status_code == 403 and "conversations:read" in r.json()["detail"]
    assert len(client.get("/v1/conversations/c-6", headers=reader).json()["messages"]) == 2


def test_a_read_shows_no_personal_data(client: TestClient) -> None:
    text = "I am ana.lopez@example.com, call me on +44 20 7946 0958 about my order"
    client.post("/v1/conversations/c-7/messages", json={"text": text})
    body = client.get("/v1/conversations/c-7").json()
    shown = json.dumps(body)
    assert "ana.lopez" not in shown and "7946" not in shown
    assert set(body["messages"][0]) == {"role", "text", "created_at", "citations"}


def test_the_api_cannot_write_into_another_channels_conversation(client: TestClient) -> None:
    store = client.app.state.runtime.inbox.store  # type: ignore[attr-defined]
    store.get_or_create("wc-someone-elses", channel="webchat")
    r = client.post("/v1/conversations/wc-someone-elses/messages", json={"text": "hello"})
    assert r.status_code == 409 and "webchat" in r.json()["detail"]
    assert store.messages("wc-someone-elses") == []


def test_any_langchain_chat_model_by_setting(
    tmp_path: Path, embedder: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeGemini() as fake:
        fake.default = FakeReply(text="You can return most items within 30 days of delivery [1].")
        monkeypatch.setenv("GOOGLE_API_KEY", "test-key")
        monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", fake.base_url)
        settings = Settings(  # type: ignore[call-arg]
            data_dir=tmp_path / "d",
            chat_model="google_genai:gemini-2.5-flash",
            gemini_timeout=60,
            admin_token=ADMIN,
            _env_file=None,
        )
        with TestClient(create_app(settings, embedder=embedder)) as c:
            reply = c.post(
                "/v1/conversations/m-1/messages",
                json={"text": "How long do I have to return things?"},
                headers={"Authorization": f"Bearer {ADMIN}"},
            )
        assert reply.json()["writer"] == "google_genai:gemini-2.5-flash"
        assert "30 days" in reply.json()["text"] and fake.requests
