"""`POST /v1/knowledge/sources` through the fetch guard: refused sources, the 422 when all are, allowed hosts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from frontdesk.app import create_app
from frontdesk.settings import Settings
from knowledge.embeddings import SentenceTransformerEmbedder

TOKEN = "sources-admin-token-0123456789-abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def wiki() -> Iterator[tuple[int, list[str]]]:
    """An intranet wiki on 127.0.0.1: its port, and the paths asked of it."""
    paths: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            paths.append(self.path)
            body = b"VPN setup\n\nInstall the client and sign in with your badge number.\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], paths
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def make_client(tmp_path: Path, embedder: SentenceTransformerEmbedder, allowed: str) -> TestClient:
    settings = Settings(
        data_dir=tmp_path / "data",
        admin_token=TOKEN,
        demo_kb=False,
        ingest_allowed_hosts=allowed,
        _env_file=None,  # type: ignore[call-arg]
    )
    return TestClient(create_app(settings, embedder=embedder))


def test_loopback_is_refused_by_default(
    tmp_path: Path, embedder: SentenceTransformerEmbedder, wiki: tuple[int, list[str]]
) -> None:
    port, paths = wiki
    urls = [f"http://127.0.0.1:{port}/vpn", f"http://[::1]:{port}/vpn"]
    with make_client(tmp_path, embedder, "") as client:
        response = client.post("/v1/knowledge/sources", json={"urls": urls}, headers=AUTH)
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert detail["message"] == "every source was refused (not a public address)"
        assert [f["source"] for f in detail["failed"]] == urls
        assert detail["failed"][0]["reason"] == (
            "refused: 127.0.0.1 is a loopback address; set FRONTDESK_INGEST_ALLOWED_HOSTS to allow it"
        )
        assert client.get("/v1/knowledge/documents", headers=AUTH).json()["total"] == 0
        bad = client.post("/v1/knowledge/sources", json={"urls": [f"http://0177.0.0.1:{port}/"]}, headers=AUTH)
        assert bad.status_code == 422 and "not a valid URL" in bad.text
    assert paths == []


def test_allowed_hosts_are_fetched_and_the_rest_reported(
    tmp_path: Path, embedder: SentenceTransformerEmbedder, wiki: tuple[int, list[str]]
) -> None:
    port, paths = wiki
    allowed, refused = f"http://127.0.0.1:{port}/vpn", f"http://127.0.0.2:{port}/vpn"
    with make_client(tmp_path, embedder, "127.0.0.1") as client:
        response = client.post("/v1/knowledge/sources", json={"urls": [allowed, refused]}, headers=AUTH)
        assert response.status_code == 200, response.text
        report = response.json()
        assert report["added"] == [allowed]
        [failure] = report["failed"]
        assert failure["source"] == refused
        assert failure["reason"].startswith("refused: 127.0.0.2 is a loopback address")
        assert client.get("/v1/knowledge/documents", headers=AUTH).json()["total"] == 1
    assert paths == ["/vpn"]
