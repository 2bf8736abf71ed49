"""Web sources against a real HTTP server on 127.0.0.1: pages, sitemaps, sitemap indexes and failures.

The server is on loopback, so the clients here allow 127.0.0.1 explicitly, as an operator allows an
intranet wiki; what the guard refuses is tested in test_fetch_guard.py.
"""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from reportlab.lib.units import cm
from reportlab.pdfgen import canvas

from knowledge.errors import DocumentLoadError, UnsupportedSourceError
from knowledge.fetch_guard import AllowedHosts, FetchGuard, GuardedClient
from knowledge.loaders import SourceResult, iter_source_documents
from knowledge.web import USER_AGENT, check_url, fetch_url, iter_url_documents, make_http_client

LOOPBACK_ALLOWED = FetchGuard(AllowedHosts.parse("127.0.0.1"))

Route = tuple[int, str, bytes, dict[str, str]]


@dataclass
class Site:
    """A small help centre served on 127.0.0.1."""

    base: str
    routes: dict[str, Route]
    user_agents: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"{self.base}{path}"


def html_page(title: str, body: str, head: str = "") -> bytes:
    return f"<html lang='en'><head><title>{title}</title>{head}</head><body><main>{body}</main></body></html>".encode()


def urlset(*urls: str) -> bytes:
    entries = "".join(f"<url><loc>{u}</loc><lastmod>2024-01-01</lastmod></url>" for u in urls)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>'
    ).encode()


def sitemap_index(*urls: str) -> bytes:
    entries = "".join(f"<sitemap><loc>{u}</loc></sitemap>" for u in urls)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</sitemapindex>'
    ).encode()


def pdf_bytes(tmp_path: Path) -> bytes:
    path = tmp_path / "manual.pdf"
    pdf = canvas.Canvas(str(path))
    pdf.setTitle("Router manual")
    pdf.drawString(2 * cm, 27 * cm, "Restart the router by holding the button for ten seconds.")
    pdf.save()
    return path.read_bytes()


def build_routes(base: str, tmp_path: Path) -> dict[str, Route]:
    html, xml = "text/html; charset=utf-8", "application/xml"
    routes: dict[str, Route] = {
        "/help/payments": (
            200,
            html,
            html_page(
                "Payments",
                "<h1>Payments</h1><p>We take cards.</p><h2>Refunds</h2><p>Refunds take five days.</p>",
                '<link rel="canonical" href="https://help.acme.test/payments">'
                '<meta name="description" content="How to pay.">',
            ),
            {},
        ),
        "/help/refunds?ref=nav": (
            200,
            html,
            html_page("Refunds", "<p>Ask support for a refund.</p>", '<link rel="canonical" href="/help/refunds">'),
            {},
        ),
        "/help/shipping": (200, html, html_page("Shipping", "<p>We ship in two days.</p>"), {}),
        "/old-shipping": (301, html, b"", {"Location": "/help/shipping"}),
        "/loop": (302, html, b"", {"Location": "/loop"}),
        "/docs/guide.md": (
            200,
            "text/markdown; charset=utf-8",
            b"---\nproduct: router\n---\n# Router guide\n\n## Setup\n\nPlug it in.\n",
            {},
        ),
        "/docs/notes.txt": (200, "text/plain; charset=utf-8", b"Release notes\n\nVersion 2 is out.\n", {}),
        "/docs/readme.md": (200, "text/plain", b"# Readme\n\nServed as text/plain.\n", {}),
        "/docs/manual.pdf": (200, "application/pdf", pdf_bytes(tmp_path), {}),
        "/logo.png": (200, "image/png", b"\x89PNG\r\n\x1a\n" + bytes(64), {}),
        "/help/empty": (200, html, b"<html><body><nav>Menu</nav></body></html>", {}),
        "/missing": (404, html, b"<h1>Not found</h1>", {}),
        "/broken": (500, html, b"<h1>Oops</h1>", {}),
        "/feed.xml": (200, xml, b'<?xml version="1.0"?><rss><channel><title>News</title></channel></rss>', {}),
        "/sitemap.xml": (
            200,
            xml,
            urlset(
                f"{base}/help/payments",
                f"{base}/help/shipping",
                f"{base}/missing",
                f"{base}/broken",
                f"{base}/docs/guide.md",
                f"{base}/help/payments",
            ),
            {},
        ),
        "/sitemap_index.xml": (
            200,
            "text/xml",
            sitemap_index(
                f"{base}/sitemaps/a.xml",
                f"{base}/sitemaps/b.xml.gz",
                f"{base}/sitemaps/gone.xml",
                f"{base}/help/shipping",
                f"{base}/sitemap_index.xml",
            ),
            {},
        ),
        "/sitemaps/a.xml": (200, xml, urlset(f"{base}/help/payments", f"{base}/help/refunds?ref=nav"), {}),
        "/sitemaps/b.xml.gz": (
            200,
            "application/gzip",
            gzip.compress(urlset(f"{base}/docs/notes.txt", f"{base}/help/payments")),
            {},
        ),
        "/bad-sitemap.xml": (200, xml, b"<?xml version='1.0'?><urlset><url><loc>oops", {}),
        "/entity-sitemap.xml": (
            200,
            xml,
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><urlset><url><loc>&a;</loc></url></urlset>',
            {},
        ),
        "/ftp-sitemap.xml": (200, xml, urlset("ftp://files.acme.test/a.md", f"{base}/help/shipping"), {}),
    }
    return routes


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """A threaded HTTP server on an ephemeral 127.0.0.1 port serving the help centre."""
    holder: dict[str, Site] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            current = holder["site"]
            current.user_agents.append(self.headers.get("User-Agent", ""))
            current.requests.append(self.path)
            if self.path == "/slow":
                time.sleep(1.5)
            status, content_type, body, headers = current.routes.get(self.path, (404, "text/plain", b"not found", {}))
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    holder["site"] = Site(base=base, routes=build_routes(base, tmp_path))
    holder["site"].routes["/slow"] = (200, "text/plain", b"Slow\n\npage", {})
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield holder["site"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_http_client(timeout=5.0, guard=LOOPBACK_ALLOWED) as http:
        yield http


def errors_by_source(results: list[SourceResult]) -> dict[str, str]:
    return {r.source: str(r.error) for r in results if r.error is not None}


def documents_by_source(results: list[SourceResult]) -> dict[str, list[str]]:
    return {r.source: [d.id for d in r.documents or []] for r in results if r.error is None}


# -- single pages ---------------------------------------------------------------------------------


def test_html_page_with_canonical_url(site: Site, client: httpx.Client) -> None:
    [doc] = fetch_url(site.url("/help/payments"), client=client)
    assert doc.id == site.url("/help/payments")
    assert doc.source == site.url("/help/payments")
    assert doc.url == "https://help.acme.test/payments"
    assert doc.title == "Payments"
    assert dict(doc.metadata) == {"description": "How to pay.", "language": "en"}
    assert [(b.headings, b.text) for b in doc.blocks] == [
        (("Payments",), "We take cards."),
        (("Payments", "Refunds"), "Refunds take five days."),
    ]


def test_relative_canonical_is_resolved_against_the_page(site: Site, client: httpx.Client) -> None:
    [doc] = fetch_url(site.url("/help/refunds?ref=nav"), client=client)
    assert doc.id == site.url("/help/refunds?ref=nav")
    assert doc.url == site.url("/help/refunds")


def test_redirect_is_followed_and_url_is_where_it_landed(site: Site, client: httpx.Client) -> None:
    [doc] = fetch_url(site.url("/old-shipping"), client=client)
    assert doc.id == site.url("/old-shipping")
    assert doc.url == site.url("/help/shipping")
    assert doc.text == "We ship in two days."


def test_markdown_text_and_pdf_by_content_type(site: Site, client: httpx.Client) -> None:
    [guide] = fetch_url(site.url("/docs/guide.md"), client=client)
    assert (guide.title, guide.url, dict(guide.metadata)) == (
        "Router guide",
        site.url("/docs/guide.md"),
        {"product": "router"},
    )
    assert [b.headings for b in guide.blocks] == [("Router guide", "Setup")]
    [readme] = fetch_url(site.url("/docs/readme.md"), client=client)
    assert readme.title == "Readme" and readme.text == "Served as text/plain."
    [notes] = fetch_url(site.url("/docs/notes.txt"), client=client)
    assert (notes.title, notes.id) == ("Release notes", site.url("/docs/notes.txt"))
    [manual] = fetch_url(site.url("/docs/manual.pdf"), client=client)
    assert manual.title == "Router manual"
    assert "holding the button for ten seconds" in manual.text
    assert manual.url == site.url("/docs/manual.pdf")


def test_http_errors_name_the_url_and_status(site: Site, client: httpx.Client) -> None:
    for path, status in (("/missing", 404), ("/broken", 500)):
        with pytest.raises(DocumentLoadError) as info:
            fetch_url(site.url(path), client=client)
        assert (info.value.source, info.value.reason) == (site.url(path), f"HTTP {status}")


def test_unsupported_content_type(site: Site, client: httpx.Client) -> None:
    with pytest.raises(UnsupportedSourceError, match=r"logo\.png: unsupported content type 'image/png'"):
        fetch_url(site.url("/logo.png"), client=client)


def test_page_without_text(site: Site, client: httpx.Client) -> None:
    with pytest.raises(DocumentLoadError, match="has no text content"):
        fetch_url(site.url("/help/empty"), client=client)


def test_xml_that_is_not_a_sitemap(site: Site, client: httpx.Client) -> None:
    with pytest.raises(DocumentLoadError) as info:
        fetch_url(site.url("/feed.xml"), client=client)
    assert info.value.reason.startswith("XML that is not a sitemap (root element <rss>")


def test_connection_refused(client: httpx.Client) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/help"
    with pytest.raises(DocumentLoadError) as info:
        fetch_url(url, client=client)
    assert info.value.source == url
    assert info.value.reason.startswith("cannot connect")
    assert "refused" in info.value.reason.lower()


def test_timeout(site: Site) -> None:
    with make_http_client(timeout=0.3, guard=LOOPBACK_ALLOWED) as slow_client, pytest.raises(DocumentLoadError) as info:
        fetch_url(site.url("/slow"), client=slow_client)
    assert info.value.reason.startswith("timed out")


def test_redirect_loop(site: Site, client: httpx.Client) -> None:
    with pytest.raises(DocumentLoadError, match="too many redirects"):
        fetch_url(site.url("/loop"), client=client)


def test_response_size_is_bounded(site: Site, client: httpx.Client) -> None:
    with pytest.raises(DocumentLoadError, match="larger than 100 bytes"):
        list(fetch_url(site.url("/help/payments"), client=client, max_bytes=100))


@pytest.mark.parametrize("url", ["ftp://acme.test/kb.md", "file:///etc/passwd", "javascript:alert(1)", "http:///x"])
def test_only_http_urls(url: str, client: httpx.Client) -> None:
    with pytest.raises(UnsupportedSourceError, match="supported|no host"):
        fetch_url(url, client=client)
    with pytest.raises(UnsupportedSourceError):
        check_url(url)


def test_user_agent_is_frontdesk(site: Site, client: httpx.Client) -> None:
    fetch_url(site.url("/help/shipping"), client=client)
    with GuardedClient(LOOPBACK_ALLOWED) as plain:
        fetch_url(site.url("/help/shipping"), client=plain)
    with GuardedClient(LOOPBACK_ALLOWED, headers={"User-Agent": "AcmeBot/2"}) as custom:
        fetch_url(site.url("/help/shipping"), client=custom)
    assert site.user_agents == [USER_AGENT, USER_AGENT, "AcmeBot/2"]
    assert USER_AGENT == "Frontdesk/0.1"


def test_a_plain_httpx_client_is_not_accepted(site: Site) -> None:
    with httpx.Client(trust_env=False) as plain, pytest.raises(TypeError, match="GuardedClient"):
        fetch_url(site.url("/help/shipping"), client=plain)
    assert site.requests == []


# -- sitemaps -------------------------------------------------------------------------------------


def test_sitemap_yields_every_page_and_reports_failures(site: Site, client: httpx.Client) -> None:
    results = list(iter_url_documents(site.url("/sitemap.xml"), client=client))
    assert [r.source for r in results] == [
        site.url("/help/payments"),
        site.url("/help/shipping"),
        site.url("/missing"),
        site.url("/broken"),
        site.url("/docs/guide.md"),
    ]  # the duplicate listing of /help/payments is fetched once
    assert documents_by_source(results) == {
        site.url("/help/payments"): [site.url("/help/payments")],
        site.url("/help/shipping"): [site.url("/help/shipping")],
        site.url("/docs/guide.md"): [site.url("/docs/guide.md")],
    }
    assert errors_by_source(results) == {
        site.url("/missing"): f"{site.url('/missing')}: HTTP 404",
        site.url("/broken"): f"{site.url('/broken')}: HTTP 500",
    }
    payments = results[0].documents or []
    assert payments[0].url == "https://help.acme.test/payments"


def test_fetch_url_on_a_sitemap_raises_the_first_failure(site: Site, client: httpx.Client) -> None:
    with pytest.raises(DocumentLoadError, match="HTTP 404"):
        fetch_url(site.url("/sitemap.xml"), client=client)


def test_sitemap_index_is_followed_bounded_and_cycle_safe(site: Site, client: httpx.Client) -> None:
    results = list(iter_url_documents(site.url("/sitemap_index.xml"), client=client))
    assert documents_by_source(results) == {
        site.url("/help/payments"): [site.url("/help/payments")],
        site.url("/help/refunds?ref=nav"): [site.url("/help/refunds?ref=nav")],
        site.url("/docs/notes.txt"): [site.url("/docs/notes.txt")],
    }
    errors = errors_by_source(results)
    assert errors[site.url("/sitemaps/gone.xml")] == f"{site.url('/sitemaps/gone.xml')}: HTTP 404"
    assert "not a sitemap (content type 'text/html')" in errors[site.url("/help/shipping")]
    assert len(errors) == 2
    assert site.requests.count("/sitemap_index.xml") == 1
    assert site.requests.count("/help/payments") == 1


def test_sitemap_index_limit(site: Site, client: httpx.Client) -> None:
    results = list(iter_url_documents(site.url("/sitemap_index.xml"), client=client, max_sitemaps=2))
    errors = errors_by_source(results)
    assert errors[site.url("/sitemaps/b.xml.gz")].endswith("skipped: the sitemap index lists more than 2")
    assert set(documents_by_source(results)) == {site.url("/help/payments"), site.url("/help/refunds?ref=nav")}


def test_sitemap_page_limit(site: Site, client: httpx.Client) -> None:
    results = list(iter_url_documents(site.url("/sitemap.xml"), client=client, max_pages=2))
    assert [r.source for r in results] == [
        site.url("/help/payments"),
        site.url("/help/shipping"),
        site.url("/sitemap.xml"),
    ]
    last = results[-1].error
    assert isinstance(last, DocumentLoadError)
    assert last.reason == "stopped after 2 pages; the rest were skipped"


def test_broken_and_hostile_sitemaps(site: Site, client: httpx.Client) -> None:
    [bad] = iter_url_documents(site.url("/bad-sitemap.xml"), client=client)
    assert isinstance(bad.error, DocumentLoadError) and bad.error.reason.startswith("not a valid XML sitemap")
    [entity] = iter_url_documents(site.url("/entity-sitemap.xml"), client=client)
    assert isinstance(entity.error, DocumentLoadError)
    assert entity.error.reason == "the XML declares a DTD or entities; sitemaps never do"


def test_sitemap_with_a_non_http_location(site: Site, client: httpx.Client) -> None:
    results = list(iter_url_documents(site.url("/ftp-sitemap.xml"), client=client))
    assert isinstance(results[0].error, UnsupportedSourceError)
    assert results[0].source == "ftp://files.acme.test/a.md"
    assert documents_by_source(results) == {site.url("/help/shipping"): [site.url("/help/shipping")]}


# -- the ingestion entry point --------------------------------------------------------------------


def test_iter_source_documents_with_urls(site: Site, client: httpx.Client) -> None:
    [page] = iter_source_documents(site.url("/help/shipping"), http=client)
    assert page.error is None and [d.title for d in page.documents or []] == ["Shipping"]
    results = list(iter_source_documents(site.url("/sitemap.xml"), http=client))
    assert len(results) == 5 and len(errors_by_source(results)) == 2
    [missing] = iter_source_documents(site.url("/missing"), http=client)
    assert isinstance(missing.error, DocumentLoadError) and missing.error.reason == "HTTP 404"


def test_iter_source_documents_makes_its_own_client(site: Site) -> None:
    [refused] = iter_source_documents(site.url("/docs/notes.txt"))  # its own client: public hosts only
    assert isinstance(refused.error, DocumentLoadError)
    assert refused.error.reason.startswith("refused: 127.0.0.1 is a loopback address")
    assert site.requests == []
    [page] = iter_url_documents(site.url("/docs/notes.txt"), guard=LOOPBACK_ALLOWED)
    assert page.error is None and [d.title for d in page.documents or []] == ["Release notes"]
    assert site.user_agents == [USER_AGENT]
