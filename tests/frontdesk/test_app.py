"""The HTTP API: health, readiness, search and document management."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from frontdesk.app import create_app
from frontdesk.runtime import build_runtime
from frontdesk.settings import Settings
from knowledge.embeddings import SentenceTransformerEmbedder

TOKEN = "s3cret-admin-token-for-the-app-tests-0001"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data = tmp_path_factory.mktemp("app") / "data"
    return Settings(data_dir=data, admin_token=TOKEN, demo_kb=True, _env_file=None)  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def client(settings: Settings, embedder: SentenceTransformerEmbedder) -> Iterator[TestClient]:
    with TestClient(create_app(settings, embedder=embedder)) as c:
        yield c


def test_health_ready_and_docs(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["database"] == "ok" and ready.json()["vector_store"] == "ok"
    assert "/v1/knowledge/search" in client.get("/openapi.json").json()["paths"]
    assert client.get("/docs").status_code == 200


def test_demo_kb_is_ingested_and_searchable(client: TestClient) -> None:
    listing = client.get("/v1/knowledge/documents", headers=AUTH).json()
    assert listing["total"] >= 10
    body = client.post("/v1/knowledge/search", json={"query": "How long do I have to return a bike?"}).json()
    top = body["passages"][0]
    assert "return" in top["citation"]["title"].lower()
    assert top["citation"]["url"].startswith("https://")
    assert 0 < top["score"] <= 1
    german = client.get("/v1/knowledge/search", params={"q": "Rücksendung", "language": "de"}).json()
    assert german["passages"] and all(p["citation"]["document_id"] for p in german["passages"])


def test_follow_up_uses_history(client: TestClient) -> None:
    body = client.post(
        "/v1/knowledge/search",
        json={
            "query": "and what about two-factor?",
            "history": [{"role": "customer", "text": "I can't log in to my account"}],
            "k": 3,
        },
    ).json()
    assert any("two-factor" in p["citation"]["title"].lower() for p in body["passages"])


def test_upload_read_delete_with_admin_token(client: TestClient) -> None:
    files = {"files": ("holiday-hours.md", b"# Holiday hours\n\nAll stores close at 14:00 on 24 December.\n")}
    assert client.post("/v1/knowledge/documents", files=files).status_code == 401
    report = client.post("/v1/knowledge/documents", files=files, headers=AUTH).json()
    assert report["added"] == ["upload:holiday-hours.md"] and report["failed"] == []
    again = client.post("/v1/knowledge/documents", files=files, headers=AUTH).json()
    assert again["unchanged"] == ["upload:holiday-hours.md"]
    doc = client.get("/v1/knowledge/documents/upload:holiday-hours.md", headers=AUTH).json()
    assert doc["title"] == "Holiday hours" and "14:00" in doc["chunks"][0]["text"]
    hit = client.post(
        "/v1/knowledge/search", json={"query": "what time do the stores close on 24 December?", "k": 1}
    ).json()
    assert hit["passages"][0]["citation"]["document_id"] == "upload:holiday-hours.md"
    assert client.delete("/v1/knowledge/documents/upload:holiday-hours.md", headers=AUTH).status_code == 200
    assert client.get("/v1/knowledge/documents/upload:holiday-hours.md", headers=AUTH).status_code == 404
    assert client.delete("/v1/knowledge/documents/upload:holiday-hours.md", headers=AUTH).status_code == 404


def test_bad_input_gets_a_clear_4xx(client: TestClient) -> None:
    r = client.post("/v1/knowledge/search", json={"query": "   "})
    assert r.status_code == 422 and "blank" in r.text
    assert client.post("/v1/knowledge/search", json={"query": "x", "k": 0}).status_code == 422
    assert (
        client.post(
            "/v1/knowledge/search", content=b"{not json", headers={"content-type": "application/json"}
        ).status_code
        == 422
    )
    r = client.post("/v1/knowledge/documents", files={"files": ("virus.exe", b"MZ")}, headers=AUTH)
    assert r.status_code == 415 and "virus.exe" in r.json()["detail"]
    r = client.post("/v1/knowledge/documents", files={"files": ("empty.txt", b"  ")}, headers=AUTH)
    assert r.status_code == 200 and r.json()["failed"][0]["source"] == "upload:empty.txt"
    r = client.post("/v1/knowledge/sources", json={"urls": ["file:///etc/passwd"]}, headers=AUTH)
    assert r.status_code == 422 and "http(s)" in r.text


def test_no_anonymous_change_even_from_loopback(tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    settings = Settings(data_dir=tmp_path / "d", demo_kb=False, _env_file=None)  # type: ignore[call-arg]
    runtime = build_runtime(settings, embedder=embedder)
    app = create_app(runtime=runtime)
    files = {"files": ("a.txt", b"Alpha\n\nSome text about alpha.")}
    with TestClient(app, client=("127.0.0.1", 4000)) as local:
        r = local.post("/v1/knowledge/documents", files=files)
        assert r.status_code == 401 and "frontdesk keys create" in r.json()["detail"]
        assert r.headers["www-authenticate"].startswith("Bearer")
        _, reader = runtime.api_keys.create("reader", ["knowledge:read"])
        r = local.post("/v1/knowledge/documents", files=files, headers={"Authorization": f"Bearer {reader}"})
        assert r.status_code == 403 and "knowledge:write" in r.json()["detail"]
        assert (
            local.get("/v1/knowledge/documents", headers={"Authorization": f"Bearer {reader}"}).json()["documents"]
            == []
        )
        _, writer = runtime.api_keys.create("writer", ["knowledge:write"])
        r = local.post("/v1/knowledge/documents", files=files, headers={"Authorization": f"Bearer {writer}"})
        assert r.json()["added"] == ["upload:a.txt"]
        runtime.api_keys.revoke("writer")
        r = local.delete("/v1/knowledge/documents/upload:a.txt", headers={"Authorization": f"Bearer {writer}"})
        assert r.status_code == 401 and "revoked" in r.json()["detail"]
    runtime.close()


def test_admin_tokens_must_be_long(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="FRONTDESK_ADMIN_TOKEN is too short"):
        Settings(data_dir=tmp_path, admin_token="short-token", _env_file=None)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="FRONTDESK_EMAIL_INBOUND_TOKEN is too short"):
        Settings(data_dir=tmp_path, email_inbound_token="short-token", _env_file=None)  # type: ignore[call-arg]


def test_readyz_reports_a_dead_database(
    tmp_path: Path, embedder: SentenceTransformerEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(data_dir=tmp_path / "d", demo_kb=False, _env_file=None)  # type: ignore[call-arg]
    runtime = build_runtime(settings, embedder=embedder)
    runtime.engine.dispose()
    runtime.engine = __import__("frontdesk.db", fromlist=["create_engine"]).create_engine(
        "postgresql://postgres@127.0.0.1:1/nothing"
    )
    with TestClient(create_app(runtime=runtime)) as c, caplog.at_level(logging.WARNING, logger="frontdesk.app"):
        r = c.get("/readyz")
    assert "the database check failed" in caplog.text
    assert r.status_code == 503 and r.json() == {"status": "not ready", "database": "unavailable", "vector_store": "ok"}
    assert "postgres" not in r.text and "127.0.0.1" not in r.text  # the reason is logged, not shown


def test_settings_refuse_placeholders(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="placeholder"):
        Settings(data_dir=tmp_path, gemini_api_key="changeme", _env_file=None)  # type: ignore[call-arg]
    s = Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    assert s.resolved_database_url == f"sqlite:///{(tmp_path / 'frontdesk.db').as_posix()}"
    assert s.resolved_chroma_path == tmp_path / "chroma"
