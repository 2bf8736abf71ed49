"""Web sources: one page (HTML, Markdown, text or PDF by content type) or every page a sitemap lists.

Each page becomes a `Document` whose id is the URL it was fetched from and whose `url` is the
page's canonical URL (else the URL after redirects). Failures are `DocumentLoadError`s naming the URL.
Every fetch goes through a `GuardedClient` (`knowledge.fetch_guard`): each redirect hop and each
sitemap location is checked, and addresses that are not public are refused unless allowed.
"""

from __future__ import annotations

import zlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit
from xml.etree import ElementTree

import httpx

from knowledge.documents import Document
from knowledge.errors import DocumentLoadError, KnowledgeError, UnsupportedSourceError
from knowledge.fetch_guard import REFUSED_PREFIX, FetchGuard, FetchRefusedError, GuardedClient
from knowledge.loaders import SourceResult, decode_text, parse_html, parse_markdown, parse_pdf, parse_text

USER_AGENT = "Frontdesk/0.1"
DEFAULT_TIMEOUT = 20.0
MAX_BYTES = 20_000_000
MAX_SITEMAPS = 50
MAX_PAGES = 5_000
MAX_REDIRECTS = 10

_ACCEPT = (
    "text/html, application/xhtml+xml, text/markdown, text/plain, application/pdf, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_MARKDOWN_TYPES = frozenset({"text/markdown", "text/x-markdown"})
_XML_TYPES = frozenset({"application/xml", "text/xml"})
_GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})


@dataclass(frozen=True, slots=True)
class _Response:
    url: str
    final_url: str
    content_type: str
    charset: str | None
    body: bytes


def make_http_client(*, timeout: float = DEFAULT_TIMEOUT, guard: FetchGuard | None = None) -> GuardedClient:
    """An HTTP client for ingestion: Frontdesk's User-Agent, a timeout on every step, and `guard` on every connection.

    Without `guard`, only public hosts are reachable.
    """
    return GuardedClient(
        guard or FetchGuard(),
        headers={"User-Agent": USER_AGENT, "Accept": _ACCEPT},
        timeout=timeout,
    )


def check_url(url: str) -> str:
    """The URL itself if it is http(s) with a host; anything else raises `UnsupportedSourceError`."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        msg = f"{url!r}: only http and https URLs are supported, got scheme {parts.scheme or '(none)'!r}"
        raise UnsupportedSourceError(msg)
    if not parts.hostname:
        msg = f"{url!r}: the URL has no host"
        raise UnsupportedSourceError(msg)
    return url


def _guarded(client: httpx.Client) -> GuardedClient:
    if not isinstance(client, GuardedClient):
        msg = (
            f"URL ingestion needs a GuardedClient (knowledge.web.make_http_client), got {type(client).__name__}: "
            "a plain client would fetch internal addresses"
        )
        raise TypeError(msg)
    return client


def _fetch(url: str, client: httpx.Client, max_bytes: int, max_redirects: int = MAX_REDIRECTS) -> _Response:
    guarded = _guarded(client)
    headers: dict[str, str] = {}
    if client.headers.get("user-agent", "").startswith("python-httpx/"):
        headers = {"User-Agent": USER_AGENT, "Accept": _ACCEPT}
    current, hops = url, 0
    try:
        while True:
            check_url(current)
            guarded.guard.check_url(current)
            with client.stream("GET", current, headers=headers, follow_redirects=False) as response:
                if response.next_request is not None:
                    hops += 1
                    if hops > max_redirects:
                        raise DocumentLoadError(url, "too many redirects")
                    current = str(response.next_request.url)
                    continue
                if not response.is_success:
                    raise DocumentLoadError(url, f"HTTP {response.status_code}")
                body = bytearray()
                for piece in response.iter_bytes():
                    body += piece
                    if len(body) > max_bytes:
                        raise DocumentLoadError(url, f"the response is larger than {max_bytes} bytes")
                content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
                return _Response(url, str(response.url), content_type, response.charset_encoding, bytes(body))
    except FetchRefusedError as exc:
        where = f" (redirected to {current})" if hops else ""
        hint = f"; {exc.hint}" if exc.hint else ""
        raise DocumentLoadError(url, f"{REFUSED_PREFIX}{exc.reason}{where}{hint}") from exc
    except UnsupportedSourceError as exc:
        if not hops:
            raise
        raise DocumentLoadError(url, f"redirected to an unsupported URL ({exc})") from exc
    except httpx.InvalidURL as exc:
        raise DocumentLoadError(url, f"not a valid URL{f' (redirected to {current})' if hops else ''}: {exc}") from exc
    except httpx.TimeoutException as exc:
        raise DocumentLoadError(url, f"timed out ({type(exc).__name__})") from exc
    except httpx.ConnectError as exc:
        raise DocumentLoadError(url, f"cannot connect ({exc})") from exc
    except httpx.HTTPError as exc:
        raise DocumentLoadError(url, f"the request failed ({type(exc).__name__}: {exc})") from exc


def _suffix(url: str) -> str:
    return PurePosixPath(urlsplit(url).path).suffix.lower()


def _fallback_title(url: str) -> str:
    parts = urlsplit(url)
    name = unquote(PurePosixPath(parts.path).stem).replace("-", " ").replace("_", " ").strip()
    return name or parts.hostname or url


def _documents(response: _Response) -> list[Document]:
    """The document of one fetched page, parsed by its content type (or its suffix when the type is generic)."""
    kind, suffix = response.content_type, _suffix(response.final_url)
    common = {"source": response.url, "doc_id": response.url, "fallback_title": _fallback_title(response.final_url)}
    generic = kind in _GENERIC_TYPES
    if kind in _HTML_TYPES or (generic and suffix in (".html", ".htm")):
        text = decode_text(response.body, response.url, response.charset)
        return [parse_html(text, base_url=response.final_url, **common)]
    if kind == "application/pdf" or (generic and suffix == ".pdf"):
        return [parse_pdf(response.body, url=response.final_url, **common)]
    markdown_suffix = suffix in (".md", ".markdown")
    if kind in _MARKDOWN_TYPES or (markdown_suffix and (generic or kind == "text/plain")):
        text = decode_text(response.body, response.url, response.charset)
        return [parse_markdown(text, url=response.final_url, **common)]
    if kind == "text/plain" or (generic and suffix in (".txt", ".text")):
        text = decode_text(response.body, response.url, response.charset)
        return [parse_text(text, url=response.final_url, **common)]
    msg = f"{response.url}: unsupported content type {kind or '(none)'!r}"
    raise UnsupportedSourceError(msg)


def _is_xml(response: _Response) -> bool:
    kind = response.content_type
    if kind in _HTML_TYPES and not urlsplit(response.final_url).path.endswith("sitemap.xml"):
        return False
    return (
        kind in _XML_TYPES
        or kind.endswith("+xml")
        or response.body[:2] == b"\x1f\x8b"  # a gzipped sitemap (sitemap.xml.gz)
        or response.body.lstrip()[:5] == b"<?xml"
        or urlsplit(response.final_url).path.endswith("sitemap.xml")
    )


def _sitemap(response: _Response, max_bytes: int) -> tuple[str, list[str]]:
    """`("urlset" | "sitemapindex", locations)` of a sitemap; other XML raises `DocumentLoadError`."""
    body = response.body
    if body[:2] == b"\x1f\x8b":
        inflater = zlib.decompressobj(wbits=31)
        try:
            body = inflater.decompress(body, max_bytes)
        except zlib.error as exc:
            raise DocumentLoadError(response.url, f"not a valid gzip file ({exc})") from exc
        if inflater.unconsumed_tail:
            raise DocumentLoadError(response.url, f"the sitemap is larger than {max_bytes} bytes unpacked")
    if b"<!DOCTYPE" in body[:4096].upper() or b"<!ENTITY" in body.upper():
        raise DocumentLoadError(response.url, "the XML declares a DTD or entities; sitemaps never do")
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise DocumentLoadError(response.url, f"not a valid XML sitemap ({exc})") from exc
    kind = root.tag.rpartition("}")[2]
    if kind not in ("urlset", "sitemapindex"):
        msg = f"XML that is not a sitemap (root element <{kind}>, expected <urlset> or <sitemapindex>)"
        raise DocumentLoadError(response.url, msg)
    entry = "url" if kind == "urlset" else "sitemap"
    locations = [
        loc.text.strip()
        for element in root
        if element.tag.rpartition("}")[2] == entry
        for loc in element
        if loc.tag.rpartition("}")[2] == "loc" and loc.text and loc.text.strip()
    ]
    return kind, locations


def _page_result(url: str, client: httpx.Client, max_bytes: int) -> SourceResult:
    try:
        return SourceResult(source=url, documents=_documents(_fetch(url, client, max_bytes)), error=None)
    except KnowledgeError as exc:
        return SourceResult(source=url, documents=None, error=exc)


def _walk_sitemaps(
    first: _Response,
    first_entries: tuple[str, list[str]],
    client: httpx.Client,
    *,
    max_bytes: int,
    max_pages: int,
    max_sitemaps: int,
) -> Iterator[SourceResult]:
    visited = {first.url}
    pages_seen: set[str] = set()
    queue: deque[tuple[str, tuple[str, list[str]]]] = deque([(first.url, first_entries)])
    while queue:
        sitemap_url, (kind, locations) = queue.popleft()
        if kind == "sitemapindex":
            for nested in locations:
                if nested in visited:
                    continue
                visited.add(nested)
                if len(visited) > max_sitemaps:
                    error = DocumentLoadError(nested, f"skipped: the sitemap index lists more than {max_sitemaps}")
                    yield SourceResult(source=nested, documents=None, error=error)
                    continue
                try:
                    response = _fetch(nested, client, max_bytes)
                    if not _is_xml(response):
                        raise DocumentLoadError(nested, f"not a sitemap (content type {response.content_type!r})")
                    entries = _sitemap(response, max_bytes)
                except KnowledgeError as exc:
                    yield SourceResult(source=nested, documents=None, error=exc)
                    continue
                queue.append((nested, entries))
            continue
        for page in locations:
            if page in pages_seen:
                continue
            if len(pages_seen) >= max_pages:
                error = DocumentLoadError(sitemap_url, f"stopped after {max_pages} pages; the rest were skipped")
                yield SourceResult(source=sitemap_url, documents=None, error=error)
                return
            pages_seen.add(page)
            yield _page_result(page, client, max_bytes)


def iter_url_documents(
    url: str,
    *,
    client: httpx.Client | None = None,
    guard: FetchGuard | None = None,
    max_bytes: int = MAX_BYTES,
    max_pages: int = MAX_PAGES,
    max_sitemaps: int = MAX_SITEMAPS,
) -> Iterator[SourceResult]:
    """One result per page: the page at `url`, or each page its sitemap (or sitemap index) lists.

    A page that fails (or that the guard refuses) is a result with an `error`; the other pages still
    come. `client` must be a `GuardedClient`; without it, one is made with `make_http_client(guard=guard)`
    and closed when the iteration ends.
    """
    if client is None:
        with make_http_client(guard=guard) as own_client:
            yield from iter_url_documents(
                url, client=own_client, max_bytes=max_bytes, max_pages=max_pages, max_sitemaps=max_sitemaps
            )
        return
    try:
        response = _fetch(url, client, max_bytes)
        if not _is_xml(response):
            yield SourceResult(source=url, documents=_documents(response), error=None)
            return
        entries = _sitemap(response, max_bytes)
    except KnowledgeError as exc:
        yield SourceResult(source=url, documents=None, error=exc)
        return
    yield from _walk_sitemaps(
        response, entries, client, max_bytes=max_bytes, max_pages=max_pages, max_sitemaps=max_sitemaps
    )


def fetch_url(
    url: str,
    *,
    client: httpx.Client,
    max_bytes: int = MAX_BYTES,
    max_pages: int = MAX_PAGES,
    max_sitemaps: int = MAX_SITEMAPS,
) -> list[Document]:
    """The documents at a URL (a page, or every page of a sitemap); the first failure raises.

    Use `iter_url_documents` to go on past pages that fail.
    """
    documents: list[Document] = []
    for result in iter_url_documents(
        url, client=client, max_bytes=max_bytes, max_pages=max_pages, max_sitemaps=max_sitemaps
    ):
        if result.error is not None:
            raise result.error
        documents.extend(result.documents or [])
    return documents
