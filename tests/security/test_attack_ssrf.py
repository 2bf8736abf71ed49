"""Server-side request forgery through URL ingestion, against a running `frontdesk serve`.

An admin (or a stolen admin key) asks the service to ingest internal addresses, hoping to read them
back through the knowledge API. A real "secret" server on 127.0.0.1 stands for the internal service:
it must receive no request, nothing may be ingested, and the service must keep answering. With
FRONTDESK_INGEST_ALLOWED_HOSTS the operator allows an intranet host on purpose, and only that.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

pytestmark = pytest.mark.slow


@dataclass
class LocalServer:
    """An HTTP server on 127.0.0.1 that records every path asked of it."""

    port: int
    routes: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    paths: list[str] = field(default_factory=list)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture
def local_server() -> Iterator[Callable[[], LocalServer]]:
    """Start as many recording servers on 127.0.0.1 as a test needs; all stop after it."""
    running: list[ThreadingHTTPServer] = []

    def start() -> LocalServer:
        holder: dict[str, LocalServer] = {}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                current = holder["server"]
                current.paths.append(self.path)
                status, headers, body = current.routes.get(self.path, (404, {}, b"not found"))
                self.send_response(status)
                for name, value in {"Content-Type": "text/plain; charset=utf-8", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
                return

        http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        holder["server"] = LocalServer(port=http.server_address[1])
        threading.Thread(target=http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        running.append(http)
        return holder["server"]

    yield start
    for http in running:
        http.shutdown()
        http.server_close()


def secret_server(start: Callable[[], LocalServer]) -> LocalServer:
    server = start()
    server.routes["/secret"] = (200, {}, b"Internal credentials\n\nThe database password is hunter2.\n")
    server.routes["/latest/"] = (200, {}, b"Instance metadata\n\niam/security-credentials/admin\n")
    return server


def documents(service: Any) -> list[tuple[str, str]]:
    with service.client() as client:
        response = client.get("/v1/knowledge/documents", params={"limit": 1000}, headers=service.admin_headers)
    assert response.status_code == 200, response.text
    return sorted((d["id"], d["content_hash"]) for d in response.json()["documents"])


def ingest(service: Any, *urls: str) -> Any:
    with service.client() as client:
        return client.post("/v1/knowledge/sources", json={"urls": list(urls)}, headers=service.admin_headers)


def assert_all_refused(response: Any, urls: tuple[str, ...], says: str) -> None:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail["message"] == "every source was refused (not a public address)"
    assert detail["added"] == detail["updated"] == detail["unchanged"] == detail["deleted"] == []
    failed = {f["source"]: f["reason"] for f in detail["failed"]}
    assert set(failed) == set(urls), failed
    for url, reason in failed.items():
        assert reason.startswith("refused: "), (url, reason)
        assert says in reason, (url, reason)
        assert reason.endswith("; set FRONTDESK_INGEST_ALLOWED_HOSTS to allow it"), (url, reason)


def test_internal_addresses_are_refused_in_every_spelling(
    service: Any, local_server: Callable[[], LocalServer]
) -> None:
    secret = secret_server(local_server)
    before = documents(service)
    loopback = [
        secret.url("/secret"),
        secret.url("/secret", "2130706433"),
        secret.url("/secret", "0x7f.1"),
        secret.url("/secret", "127.1"),
        secret.url("/secret", "[::1]"),
        secret.url("/secret", "[::ffff:127.0.0.1]"),
        secret.url("/secret", "localhost"),
    ]
    for url in loopback:
        assert_all_refused(ingest(service, url), (url,), "loopback address")
    metadata = "http://169.254.169.254/latest/"
    assert_all_refused(ingest(service, metadata), (metadata,), "169.254.169.254 is a link-local address")
    batch = (*loopback, metadata, "http://10.0.0.1/wiki", "http://[fd00::1]/", "http://0.0.0.0/")
    assert_all_refused(ingest(service, *batch), batch, "address")
    assert secret.paths == []
    assert documents(service) == before
    service.assert_responsive()


def test_urls_that_cannot_be_checked_are_refused(service: Any, local_server: Callable[[], LocalServer]) -> None:
    secret = secret_server(local_server)
    before = documents(service)
    octal = ingest(service, secret.url("/secret", "0177.0.0.1"))
    assert octal.status_code == 422 and "is not a valid URL" in octal.text, octal.text
    with_user = f"http://admin:pw@127.0.0.1:{secret.port}/secret"
    response = ingest(service, with_user)
    assert response.status_code == 422, response.text
    [failure] = response.json()["detail"]["failed"]
    assert failure["reason"].startswith("refused: ") and "user name or password" in failure["reason"]
    assert secret.paths == []
    assert documents(service) == before
    service.assert_responsive()


def test_an_allowed_name_cannot_lead_to_loopback(
    start_service: Callable[..., Any], local_server: Callable[[], LocalServer]
) -> None:
    """The operator allows `localhost` (say, a wiki on this machine); its redirects and sitemap cannot widen that."""
    secret, wiki = secret_server(local_server), local_server()
    wiki.routes["/go"] = (302, {"Location": secret.url("/secret")}, b"")
    wiki.routes["/go-mapped"] = (301, {"Location": secret.url("/secret", "[::ffff:7f00:1]")}, b"")
    wiki.routes["/sitemap.xml"] = (
        200,
        {"Content-Type": "application/xml"},
        (
            '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<url><loc>{secret.url('/secret')}</loc></url>"
            f"<url><loc>{secret.url('/secret', '2130706433')}</loc></url></urlset>"
        ).encode(),
    )
    served = start_service(FRONTDESK_INGEST_ALLOWED_HOSTS="localhost", FRONTDESK_DEMO_KB="false")
    before = documents(served)
    for path in ("/go", "/go-mapped"):
        url = wiki.url(path, "localhost")
        assert_all_refused(ingest(served, url), (url,), "(redirected to http://")
    sitemap = ingest(served, wiki.url("/sitemap.xml", "localhost"))
    assert_all_refused(sitemap, (secret.url("/secret"), secret.url("/secret", "2130706433")), "loopback address")
    assert wiki.paths == ["/go", "/go-mapped", "/sitemap.xml"]
    assert secret.paths == []
    assert documents(served) == before
    served.assert_responsive()


def test_allowed_hosts_ingest_from_the_intranet(
    start_service: Callable[..., Any], local_server: Callable[[], LocalServer]
) -> None:
    wiki = local_server()
    wiki.routes["/vpn"] = (200, {}, b"VPN setup\n\nInstall the client and sign in with your badge number.\n")
    wiki.routes["/printers"] = (200, {}, b"Printers\n\nThe second floor printer takes badge sign-in.\n")
    served = start_service(FRONTDESK_INGEST_ALLOWED_HOSTS="127.0.0.1", FRONTDESK_DEMO_KB="false")
    elsewhere = f"http://127.0.0.2:{wiki.port}/vpn"  # loopback too, but not the allowed address
    response = ingest(served, wiki.url("/vpn"), elsewhere)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["added"] == [wiki.url("/vpn")]
    assert [f["source"] for f in report["failed"]] == [elsewhere]
    assert report["failed"][0]["reason"].startswith("refused: 127.0.0.2 is a loopback address")
    with served.client() as client:
        doc = client.get(f"/v1/knowledge/documents/{wiki.url('/vpn')}", headers=served.admin_headers)
    assert doc.status_code == 200 and "badge number" in doc.json()["chunks"][0]["text"]
    cli = served.cli("ingest", wiki.url("/printers"), "--json")
    assert wiki.url("/printers") in cli.stdout
    refused = served.cli("ingest", elsewhere, check=False)
    assert refused.returncode == 1
    assert "refused: 127.0.0.2 is a loopback address" in refused.stderr.replace("\n", " ")
    assert wiki.paths == ["/vpn", "/printers"]
    assert {d for d, _ in documents(served)} == {wiki.url("/vpn"), wiki.url("/printers")}
    served.assert_responsive()
