"""The fetch guard: which addresses URL ingestion may reach, checked on the connection it makes.

Public addresses cannot be reached from the tests, so the guard is given a resolver (a host to its
addresses) and, where a connection to a public address would be made, a backend that records the
address instead of connecting. The web pages themselves come from a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpcore
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from frontdesk.settings import Settings
from knowledge.errors import DocumentLoadError
from knowledge.fetch_guard import (
    AllowedHosts,
    FetchGuard,
    FetchRefusedError,
    GuardedBackend,
    GuardedClient,
    IPAddress,
    address_kind,
    is_refusal,
)
from knowledge.loaders import SourceResult
from knowledge.web import fetch_url, iter_url_documents, make_http_client

PUBLIC = "93.184.216.34"


@dataclass
class Server:
    """An HTTP server on 127.0.0.1 that records the path and Host header of every request."""

    port: int
    routes: dict[str, tuple[int, dict[str, str], bytes]]
    http: ThreadingHTTPServer
    requests: list[tuple[str, str]] = field(default_factory=list)

    @property
    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]

    def wrap(self, context: ssl.SSLContext) -> None:
        """Serve HTTPS from now on (the next accepted connection is TLS)."""
        self.http.socket = context.wrap_socket(self.http.socket, server_side=True)


@pytest.fixture
def server() -> Iterator[Server]:
    holder: dict[str, Server] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            current = holder["server"]
            current.requests.append((self.path, self.headers.get("Host", "")))
            status, headers, body = current.routes.get(self.path, (404, {}, b"not found"))
            self.send_response(status)
            for name, value in {"Content-Type": "text/plain", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
            return

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["server"] = Server(port=http.server_address[1], routes={}, http=http)
    thread = threading.Thread(target=http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield holder["server"]
    finally:
        http.shutdown()
        http.server_close()
        thread.join(timeout=5)


class Resolver:
    """A name service from a table; each host's answers are given in turn (the last one repeats)."""

    def __init__(self, table: dict[str, list[list[str]]]) -> None:
        self.table = table
        self.calls: list[str] = []

    def __call__(self, host: str) -> list[str]:
        self.calls.append(host)
        answers = self.table.get(host)
        if answers is None:
            msg = f"unknown host {host}"
            raise OSError(msg)
        return answers.pop(0) if len(answers) > 1 else answers[0]


class RecordingBackend(GuardedBackend):
    """The guarded backend, except that it records where it would connect instead of connecting."""

    def __init__(self, guard: FetchGuard) -> None:
        super().__init__(guard)
        self.targets: list[tuple[str, int]] = []

    def open(
        self,
        address: IPAddress,
        port: int,
        timeout: float | None,
        local_address: str | None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None,
    ) -> httpcore.NetworkStream:
        self.targets.append((str(address), port))
        msg = f"recorded {address}:{port}, not connected"
        raise httpcore.ConnectError(msg)


def refusal(guard: FetchGuard, host: str, port: int = 80) -> str:
    with pytest.raises(FetchRefusedError) as info:
        guard.addresses(host, port)
    return info.value.reason


def only_error(results: Sequence[SourceResult]) -> DocumentLoadError:
    [result] = results
    assert isinstance(result.error, DocumentLoadError), result
    return result.error


# -- what is refused ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.8.9.10",
        "2130706433",  # decimal
        "0x7f000001",  # hex
        "0x7f.1",
        "0177.0.0.1",  # octal
        "0177.1",
        "127.1",  # short
        "::1",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "0:0:0:0:0:ffff:7f00:1",
        "localhost",
    ],
)
def test_every_spelling_of_loopback_is_resolved_and_refused(host: str) -> None:
    reason = refusal(FetchGuard(), host)
    assert "loopback address" in reason
    assert reason.startswith(host)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("169.254.169.254", "link-local address (the cloud metadata service)"),
        ("::ffff:169.254.169.254", "link-local address (the cloud metadata service; IPv4-mapped 169.254.169.254)"),
        ("10.0.0.1", "private address"),
        ("172.16.5.4", "private address"),
        ("192.168.1.1", "private address"),
        ("100.64.0.1", "carrier-grade NAT address (100.64.0.0/10)"),
        ("0.0.0.0", "unspecified address"),
        ("0.1.2.3", "'this network' address (0.0.0.0/8)"),
        ("224.0.0.251", "multicast address"),
        ("240.0.0.1", "reserved address"),
        ("255.255.255.255", "broadcast address"),
        ("203.0.113.7", "special-purpose address (not globally routable)"),
        ("::", "unspecified address"),
        ("fe80::1", "link-local address"),
        ("fc00::1", "private address (unique local)"),
        ("fd12:3456::1", "private address (unique local)"),
        ("ff02::1", "multicast address"),
        ("2002:7f00:1::", "loopback address (6to4 127.0.0.1)"),
        ("2002:a00:1::", "private address (6to4 10.0.0.1)"),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback address (Teredo 127.0.0.1)"),
        ("64:ff9b::a9fe:a9fe", "link-local address (the cloud metadata service; NAT64 169.254.169.254)"),
        ("2001:db8::1", "special-purpose address (not globally routable)"),
    ],
)
def test_non_public_addresses_are_named_by_kind(address: str, kind: str) -> None:
    assert address_kind(ipaddress.ip_address(address)) == kind
    guard = FetchGuard(resolver=Resolver({"docs.example.test": [[address]]}))
    assert refusal(guard, "docs.example.test") == (
        f"docs.example.test resolves to {ipaddress.ip_address(address)}, which is "
        f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"
    )


@pytest.mark.parametrize("address", [PUBLIC, "8.8.8.8", "2606:4700:4700::1111", "2002:5db8:d822::"])
def test_public_addresses_pass(address: str) -> None:
    assert address_kind(ipaddress.ip_address(address)) is None
    guard = FetchGuard(resolver=Resolver({"docs.example.test": [[address]]}))
    assert guard.addresses("docs.example.test", 443) == [ipaddress.ip_address(address)]


def test_a_host_with_one_internal_address_among_public_ones_is_refused() -> None:
    guard = FetchGuard(resolver=Resolver({"docs.example.test": [[PUBLIC, "10.0.0.7"]]}))
    assert refusal(guard, "docs.example.test").startswith("docs.example.test resolves to 10.0.0.7")


def test_public_hosts_only_on_the_web_ports() -> None:
    guard = FetchGuard(resolver=Resolver({"docs.example.test": [[PUBLIC]]}))
    assert guard.addresses("docs.example.test", 80) and guard.addresses("docs.example.test", 443)
    assert refusal(guard, "docs.example.test", 6379) == (
        "port 6379 of docs.example.test: public hosts are fetched on ports 80 and 443 only"
    )


def test_the_refusal_says_how_to_allow_it() -> None:
    with pytest.raises(FetchRefusedError) as info:
        FetchGuard().addresses("127.0.0.1", 80)
    assert str(info.value) == "127.0.0.1 is a loopback address; set FRONTDESK_INGEST_ALLOWED_HOSTS to allow it"
    assert is_refusal("refused: 127.0.0.1 is a loopback address") and not is_refusal("HTTP 404")


# -- what the operator allows ---------------------------------------------------------------------


def test_allowed_hosts_parse_names_addresses_and_ranges() -> None:
    allowed = AllowedHosts.parse(" Wiki.Intranet. , 10.2.0.0/16,127.0.0.1, [::1], fd00::/8,,")
    assert allowed.names == frozenset({"wiki.intranet"})
    assert [str(n) for n in allowed.networks] == ["10.2.0.0/16", "127.0.0.1/32", "::1/128", "fd00::/8"]
    assert AllowedHosts.parse("") == AllowedHosts()


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("http://wiki.intranet", "neither a host name nor a CIDR range"),
        ("wiki.intranet:8080", "neither a host name nor a CIDR range"),
        ("10.2.3.4/16", "not a valid CIDR range"),
        ("10.2.0.0/33", "not a valid CIDR range"),
        ("wiki..intranet", "neither a host name nor a CIDR range"),
    ],
)
def test_bad_allowed_hosts_are_refused_at_start(entry: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        AllowedHosts.parse(entry)
    with pytest.raises(ValidationError, match="FRONTDESK_INGEST_ALLOWED_HOSTS"):
        Settings(ingest_allowed_hosts=f"wiki.ok,{entry}", _env_file=None)  # type: ignore[call-arg]


def test_settings_build_the_guard_from_allowed_hosts() -> None:
    settings = Settings(ingest_allowed_hosts="wiki.intranet,10.2.0.0/16", _env_file=None)  # type: ignore[call-arg]
    guard = settings.ingest_guard()
    assert guard.allowed == AllowedHosts.parse("wiki.intranet,10.2.0.0/16")
    assert Settings(_env_file=None).ingest_guard().allowed == AllowedHosts()  # type: ignore[call-arg]


def test_an_allowed_name_may_resolve_anywhere_on_any_port() -> None:
    resolver = Resolver({"wiki.intranet": [["10.9.8.7"]], "other.intranet": [["10.9.8.7"]]})
    guard = FetchGuard(AllowedHosts.parse("wiki.intranet"), resolver=resolver)
    assert guard.addresses("wiki.intranet", 8080) == [ipaddress.ip_address("10.9.8.7")]
    assert guard.allowed.allows_name("WIKI.Intranet.")
    assert refusal(guard, "other.intranet").startswith("other.intranet resolves to 10.9.8.7")


def test_an_allowed_range_admits_its_addresses_in_any_spelling() -> None:
    guard = FetchGuard(AllowedHosts.parse("127.0.0.0/8,10.2.0.0/16"))
    assert guard.addresses("2130706433", 8080) == [ipaddress.ip_address("127.0.0.1")]
    assert guard.addresses("::ffff:127.0.0.1", 8080) == [ipaddress.ip_address("::ffff:127.0.0.1")]
    assert "private address" in refusal(guard, "10.3.0.1")
    assert "loopback address" in refusal(guard, "::1")  # an IPv4 range does not admit IPv6 loopback


# -- on the wire ----------------------------------------------------------------------------------


def test_connects_to_the_address_it_checked_and_keeps_the_host_name(server: Server) -> None:
    server.routes["/help"] = (200, {}, b"Help\n\nWe answer within a day.\n")
    resolver = Resolver({"docs.example.test": [["127.0.0.1"]]})
    guard = FetchGuard(AllowedHosts.parse("docs.example.test"), resolver=resolver)
    with make_http_client(timeout=5, guard=guard) as client:
        [doc] = fetch_url(f"http://docs.example.test:{server.port}/help", client=client)
    assert doc.title == "Help"
    assert server.requests == [("/help", f"docs.example.test:{server.port}")]
    assert resolver.calls == ["docs.example.test"]  # one lookup; the system's DNS (which has no such name) not asked


def test_loopback_is_refused_before_any_request(server: Server) -> None:
    server.routes["/secret"] = (200, {}, b"Secret\n\nThe root password.\n")
    for host in ("127.0.0.1", "localhost", "2130706433", "0x7f.1", "127.1", "[::ffff:127.0.0.1]"):
        url = f"http://{host}:{server.port}/secret"
        error = only_error(list(iter_url_documents(url)))
        assert error.source == url
        assert error.reason.startswith("refused: ")
        assert "loopback address" in error.reason
        assert error.reason.endswith("; set FRONTDESK_INGEST_ALLOWED_HOSTS to allow it")
    error = only_error(list(iter_url_documents(f"http://0177.0.0.1:{server.port}/secret")))
    assert error.reason.startswith("not a valid URL")
    assert server.requests == []


def test_a_redirect_to_loopback_is_refused(server: Server) -> None:
    server.routes["/go"] = (302, {"Location": f"http://127.0.0.1:{server.port}/secret"}, b"")
    server.routes["/go-mapped"] = (301, {"Location": f"http://[::ffff:127.0.0.1]:{server.port}/secret"}, b"")
    server.routes["/secret"] = (200, {}, b"Secret\n\nThe root password.\n")
    resolver = Resolver({"docs.example.test": [["127.0.0.1"]]})
    guard = FetchGuard(AllowedHosts.parse("docs.example.test"), resolver=resolver)
    with make_http_client(timeout=5, guard=guard) as client:
        for path in ("/go", "/go-mapped"):
            url = f"http://docs.example.test:{server.port}{path}"
            error = only_error(list(iter_url_documents(url, client=client)))
            assert error.source == url
            assert error.reason.startswith("refused: ")
            assert "loopback address" in error.reason and "(redirected to http://" in error.reason
    assert server.paths == ["/go", "/go-mapped"]


def test_redirects_are_bounded_and_stay_on_http(server: Server) -> None:
    server.routes["/ftp"] = (302, {"Location": "ftp://files.example.test/kb.md"}, b"")
    for hop in range(12):
        server.routes[f"/hop{hop}"] = (302, {"Location": f"/hop{hop + 1}"}, b"")
    guard = FetchGuard(AllowedHosts.parse("127.0.0.1"))
    with make_http_client(timeout=5, guard=guard) as client:
        [ftp] = iter_url_documents(f"http://127.0.0.1:{server.port}/ftp", client=client)
        assert isinstance(ftp.error, DocumentLoadError)
        assert ftp.error.reason.startswith("redirected to an unsupported URL")
        [loop] = iter_url_documents(f"http://127.0.0.1:{server.port}/hop0", client=client)
        assert isinstance(loop.error, DocumentLoadError) and loop.error.reason == "too many redirects"
    assert server.paths.count("/hop10") == 1 and "/hop11" not in server.paths


def test_sitemap_locations_on_loopback_are_refused(server: Server) -> None:
    base, secret = f"http://docs.example.test:{server.port}", f"http://127.0.0.1:{server.port}/secret"
    server.routes["/sitemap.xml"] = (
        200,
        {"Content-Type": "application/xml"},
        (
            '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<url><loc>{secret}</loc></url><url><loc>{base}/help</loc></url>"
            f"<url><loc>http://[::1]:{server.port}/secret</loc></url></urlset>"
        ).encode(),
    )
    server.routes["/help"] = (200, {}, b"Help\n\nWe answer within a day.\n")
    server.routes["/secret"] = (200, {}, b"Secret\n\nThe root password.\n")
    guard = FetchGuard(
        AllowedHosts.parse("docs.example.test"), resolver=Resolver({"docs.example.test": [["127.0.0.1"]]})
    )
    with make_http_client(timeout=5, guard=guard) as client:
        results = list(iter_url_documents(f"{base}/sitemap.xml", client=client))
    assert [r.source for r in results] == [secret, f"{base}/help", f"http://[::1]:{server.port}/secret"]
    assert [d.title for d in results[1].documents or []] == ["Help"]
    for refused in (results[0], results[2]):
        assert isinstance(refused.error, DocumentLoadError) and refused.error.reason.startswith("refused: ")
    assert "/secret" not in server.paths


def test_dns_rebinding_never_reaches_loopback() -> None:
    """The name answers a public address, then loopback: each connection uses the answer it checked."""
    resolver = Resolver({"rebind.example.test": [[PUBLIC], ["127.0.0.1"]]})
    guard = FetchGuard(resolver=resolver)
    backend = RecordingBackend(guard)
    with GuardedClient(guard, backend=backend, timeout=5) as client:
        first = only_error(list(iter_url_documents("http://rebind.example.test/", client=client)))
        second = only_error(list(iter_url_documents("http://rebind.example.test/", client=client)))
    assert first.reason.startswith("cannot connect (recorded 93.184.216.34:80")
    assert second.reason.startswith("refused: rebind.example.test resolves to 127.0.0.1, which is a loopback address")
    assert backend.targets == [(PUBLIC, 80)]
    assert resolver.calls == ["rebind.example.test", "rebind.example.test"]


def test_refusal_happens_before_connecting() -> None:
    resolver = Resolver({"docs.example.test": [["203.0.113.7"]], "public.example.test": [[PUBLIC]]})
    guard = FetchGuard(resolver=resolver)
    backend = RecordingBackend(guard)
    with GuardedClient(guard, backend=backend, timeout=5) as client:
        reserved = only_error(list(iter_url_documents("https://docs.example.test/kb", client=client)))
        port = only_error(list(iter_url_documents("http://public.example.test:8080/kb", client=client)))
        userinfo = only_error(list(iter_url_documents("http://admin:pw@public.example.test/kb", client=client)))
    assert "203.0.113.7, which is a special-purpose address" in reserved.reason
    assert port.reason.startswith("refused: port 8080 of public.example.test")
    assert userinfo.reason == (
        "refused: http://admin:pw@public.example.test/kb carries a user name or password; such URLs are not fetched"
    )
    assert backend.targets == []
    assert resolver.calls == ["docs.example.test", "public.example.test"]


def test_an_unknown_host_cannot_connect() -> None:
    guard = FetchGuard(resolver=Resolver({}))
    with make_http_client(timeout=5, guard=guard) as client:
        error = only_error(list(iter_url_documents("http://nowhere.example.test/", client=client)))
    assert error.reason.startswith("cannot connect (cannot resolve nowhere.example.test")


def test_the_guarded_client_cannot_be_given_another_transport_or_proxy() -> None:
    for option in ("transport", "mounts", "proxy", "trust_env", "follow_redirects"):
        with pytest.raises(ValueError, match=f"sets {option} itself"):
            GuardedClient(FetchGuard(), **{option: None})


# -- TLS: the socket goes to the checked address, the certificate is checked against the host name ----------


def _tls_files(tmp_path: Path, name: str) -> tuple[Path, Path, Path]:
    """A throwaway CA, and a certificate and key for `name` signed by it (PEM files)."""
    now = dt.datetime.now(dt.UTC)

    def build(
        subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name | None, ca_key: ec.EllipticCurvePrivateKey
    ) -> x509.Certificate:
        ca = issuer is None
        own = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(own)
            .issuer_name(issuer or own)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
            ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        else:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False)
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
        return builder.sign(ca_key, hashes.SHA256())

    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = build("Frontdesk test CA", ca_key, None, ca_key)
    leaf = build(name, leaf_key, ca.subject, ca_key)
    ca_file, cert_file, key_file = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ca_file, cert_file, key_file


def test_tls_checks_the_certificate_against_the_host_name(server: Server, tmp_path: Path) -> None:
    server.routes["/help"] = (200, {}, b"Help\n\nWe answer within a day.\n")
    ca_file, cert_file, key_file = _tls_files(tmp_path, "docs.example.test")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert_file, key_file)
    names: list[str | None] = []
    server_context.sni_callback = lambda sock, name, ctx: names.append(name)  # type: ignore[assignment,func-returns-value]
    server.wrap(server_context)
    client_context = ssl.create_default_context(cafile=str(ca_file))
    resolver = Resolver({"docs.example.test": [["127.0.0.1"]]})
    guard = FetchGuard(AllowedHosts.parse("docs.example.test,127.0.0.1"), resolver=resolver)
    with GuardedClient(guard, verify=client_context, timeout=5) as client:
        [doc] = fetch_url(f"https://docs.example.test:{server.port}/help", client=client)
        by_address = only_error(list(iter_url_documents(f"https://127.0.0.1:{server.port}/help", client=client)))
    assert doc.title == "Help"
    assert names[0] == "docs.example.test"
    assert by_address.reason.startswith("cannot connect") and "CERTIFICATE_VERIFY_FAILED" in by_address.reason, (
        by_address
    )
    assert server.paths == ["/help"]
