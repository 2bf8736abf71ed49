"""The guard of URL ingestion against server-side request forgery.

A `FetchGuard` decides which addresses ingestion may connect to: public ones (on the web ports),
and whatever the operator allowed by host name or CIDR range (an intranet wiki). `GuardedClient`
is an httpx client whose every TCP connection goes through the guard: the host is resolved once,
every address it resolves to is checked, and the socket is opened to a checked address, so a
second lookup (DNS rebinding) never decides where the connection goes. TLS still verifies the
certificate against the host name and sends it as SNI.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpcore
import httpx

from knowledge.errors import KnowledgeError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str], Sequence[str]]
"""A host name (or numeric address) to the addresses it resolves to, as strings."""

REFUSED_PREFIX = "refused: "
DEFAULT_HINT = "set FRONTDESK_INGEST_ALLOWED_HOSTS to allow it"
WEB_PORTS = frozenset({80, 443})

_V4 = ipaddress.IPv4Network
_THIS_NETWORK = _V4("0.0.0.0/8")
_SHARED = _V4("100.64.0.0/10")
_PRIVATE_V4 = (_V4("10.0.0.0/8"), _V4("172.16.0.0/12"), _V4("192.168.0.0/16"))
_METADATA = ipaddress.IPv4Address("169.254.169.254")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-.")


class FetchRefusedError(KnowledgeError):
    """A URL or address that ingestion refuses to fetch; `reason` says why, `hint` how to allow it (if one can)."""

    def __init__(self, reason: str, hint: str = "") -> None:
        self.reason = reason
        self.hint = hint
        super().__init__(f"{reason}; {hint}" if hint else reason)


def is_refusal(reason: str) -> bool:
    """Whether a failed source's reason is the guard's refusal (rather than a fetch that failed)."""
    return reason.startswith(REFUSED_PREFIX)


def system_resolver(host: str) -> list[str]:
    """The addresses the operating system resolves `host` to (numeric forms such as 127.1 included)."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def address_kind(address: IPAddress) -> str | None:
    """What kind of non-public address this is ("loopback address", ...); None for a public one."""
    if isinstance(address, ipaddress.IPv6Address):
        return _v6_kind(address)
    return _v4_kind(address)


def _v4_kind(ip: ipaddress.IPv4Address) -> str | None:
    checks: tuple[tuple[bool, str], ...] = (
        (ip == _THIS_NETWORK.network_address, "unspecified address"),
        (ip in _THIS_NETWORK, "'this network' address (0.0.0.0/8)"),
        (ip.is_loopback, "loopback address"),
        (ip == _METADATA, "link-local address (the cloud metadata service)"),
        (ip.is_link_local, "link-local address"),
        (ip.is_multicast, "multicast address"),
        (ip in _SHARED, "carrier-grade NAT address (100.64.0.0/10)"),
        (any(ip in net for net in _PRIVATE_V4), "private address"),
        (ip == ipaddress.IPv4Address("255.255.255.255"), "broadcast address"),
        (ip.is_reserved, "reserved address"),
        (not ip.is_global, "special-purpose address (not globally routable)"),
    )
    return next((kind for hit, kind in checks if hit), None)


def _v6_kind(ip: ipaddress.IPv6Address) -> str | None:
    embedded: tuple[tuple[ipaddress.IPv4Address | None, str], ...] = (
        (ip.ipv4_mapped, "IPv4-mapped"),
        (ip.sixtofour, "6to4"),
        (ip.teredo[1] if ip.teredo else None, "Teredo"),
        (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else None, "NAT64"),
    )
    for inner, how in embedded:
        if inner is not None and (kind := _v4_kind(inner)) is not None:
            return f"{kind} ({how} {inner})" if "(" not in kind else f"{kind[:-1]}; {how} {inner})"
    checks: tuple[tuple[bool, str], ...] = (
        (ip.is_unspecified, "unspecified address"),
        (ip.is_loopback, "loopback address"),
        (ip.is_link_local, "link-local address"),
        (ip.is_site_local, "site-local address"),
        (ip.is_multicast, "multicast address"),
        (ip in _UNIQUE_LOCAL, "private address (unique local)"),
        (ip.is_reserved, "reserved address"),
        (not ip.is_global, "special-purpose address (not globally routable)"),
    )
    return next((kind for hit, kind in checks if hit), None)


def _plain(address: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address as the IPv4 address it is; any other address as it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _host_name(host: str) -> str:
    name = host.strip().lower().rstrip(".")
    if not name.isascii():
        name = name.encode("idna").decode("ascii")
    return name


@dataclass(frozen=True, slots=True)
class AllowedHosts:
    """Host names and address ranges the operator allows although they are not public."""

    names: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: str | Iterable[str]) -> AllowedHosts:
        """From `wiki.intranet,10.2.0.0/16,127.0.0.1` (or a list of such entries); a bad entry raises ValueError."""
        items = entries.split(",") if isinstance(entries, str) else list(entries)
        names: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in items:
            entry = raw.strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=True))
                continue
            except ValueError as exc:
                if "/" in entry and "://" not in entry:
                    msg = f"allowed host {entry!r} is not a valid CIDR range ({exc})"
                    raise ValueError(msg) from exc
            try:
                name = _host_name(entry)
            except UnicodeError as exc:
                msg = f"allowed host {entry!r} is not a valid host name ({exc})"
                raise ValueError(msg) from exc
            if not name or not set(name) <= _HOST_CHARS or ".." in name:
                msg = (
                    f"allowed host {entry!r} is neither a host name nor a CIDR range "
                    "(give names like wiki.intranet or ranges like 10.2.0.0/16, not URLs or ports)"
                )
                raise ValueError(msg)
            names.add(name)
        return cls(frozenset(names), tuple(networks))

    def allows_name(self, host: str) -> bool:
        return _host_name(host) in self.names

    def allows_address(self, address: IPAddress) -> bool:
        plain = _plain(address)
        return any(plain in net for net in self.networks if net.version == plain.version)


@dataclass(frozen=True, slots=True)
class FetchGuard:
    """Which URLs and addresses ingestion may fetch.

    Public addresses are fetched on the web ports (80 and 443); an allowed host name (with every
    address it resolves to) or an address in an allowed range is fetched on any port. Everything
    else — loopback, private, link-local, multicast, reserved, unspecified, carrier-grade NAT,
    0.0.0.0/8, and IPv6 forms that embed such an IPv4 address — is refused. `resolver` is the
    name service (the operating system's by default; tests give their own).
    """

    allowed: AllowedHosts = field(default_factory=AllowedHosts)
    resolver: Resolver = system_resolver
    public_ports: frozenset[int] = WEB_PORTS
    hint: str = DEFAULT_HINT

    def check_url(self, url: str) -> None:
        """Refuse what no address check can make safe: user names or passwords in the URL."""
        parts = urlsplit(url)
        if parts.username is not None or parts.password is not None or "@" in parts.netloc:
            msg = f"{url} carries a user name or password; such URLs are not fetched"
            raise FetchRefusedError(msg)

    def addresses(self, host: str, port: int) -> list[IPAddress]:
        """The checked addresses to connect to for `host:port`, resolved once; refused ones raise `FetchRefusedError`.

        A host that resolves to any refused address is refused as a whole. A failed lookup raises `OSError`.
        """
        shown = host.strip("[]")
        try:  # a canonical address literal needs no lookup; any other spelling (127.1, 0x7f.1) is resolved
            resolved: list[IPAddress] = [ipaddress.ip_address(shown)]
        except ValueError:
            resolved = [ipaddress.ip_address(a.split("%", 1)[0]) for a in self.resolver(shown)]
        if not resolved:
            msg = f"{shown} resolves to no address"
            raise OSError(msg)
        if self.allowed.allows_name(shown):
            return resolved
        for address in resolved:
            if self.allowed.allows_address(address):
                continue
            kind = address_kind(address)
            if kind is not None:
                said = f"{shown} is" if _is_literal(shown, address) else f"{shown} resolves to {address}, which is"
                msg = f"{said} {'an' if kind[0] in 'aeiou' else 'a'} {kind}"
                raise FetchRefusedError(msg, self.hint)
        if port not in self.public_ports and not all(self.allowed.allows_address(a) for a in resolved):
            ports = " and ".join(str(p) for p in sorted(self.public_ports))
            msg = f"port {port} of {shown}: public hosts are fetched on ports {ports} only"
            raise FetchRefusedError(msg, self.hint)
        return resolved


def _is_literal(host: str, address: IPAddress) -> bool:
    try:
        return ipaddress.ip_address(host) == address
    except ValueError:
        return False


class GuardedBackend(httpcore.SyncBackend):
    """httpcore's network backend that connects only to addresses its `FetchGuard` checked."""

    def __init__(self, guard: FetchGuard) -> None:
        self.guard = guard

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = self.guard.addresses(host, port)
        except FetchRefusedError:
            raise
        except (OSError, UnicodeError, ValueError) as exc:
            msg = f"cannot resolve {host} ({exc})"
            raise httpcore.ConnectError(msg) from exc
        failure: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                return self.open(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:  # the next address may answer (IPv6 first, then IPv4)
                failure = exc
        assert failure is not None
        raise failure

    def open(
        self,
        address: IPAddress,
        port: int,
        timeout: float | None,
        local_address: str | None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None,
    ) -> httpcore.NetworkStream:
        """A TCP connection to one checked address (numeric: no name lookup happens here)."""
        return super().connect_tcp(str(address), port, timeout, local_address, socket_options)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None
    ) -> httpcore.NetworkStream:
        msg = f"unix socket {path}: ingestion fetches over TCP only"
        raise FetchRefusedError(msg)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport on a connection pool whose every connection goes through a `GuardedBackend`."""

    def __init__(
        self, guard: FetchGuard, *, backend: GuardedBackend | None = None, verify: ssl.SSLContext | bool = True
    ) -> None:
        ssl_context = (
            verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify, trust_env=False)
        )
        super().__init__(verify=ssl_context, trust_env=False)
        self._pool.close()
        # httpx has no public way to hand its pool a network backend; this is the pool it builds, plus ours.
        self._pool = httpcore.ConnectionPool(ssl_context=ssl_context, network_backend=backend or GuardedBackend(guard))


class GuardedClient(httpx.Client):
    """An httpx client for ingestion that can reach only what `guard` allows.

    It never follows redirects itself (the caller checks each hop), ignores proxy variables from
    the environment (a proxy would resolve the host out of the guard's sight) and refuses any
    other transport. `verify` (True, or an `ssl.SSLContext` with other trusted roots) checks certificates
    against the URL's host name, which is also sent as SNI, although the socket goes to a checked address.
    """

    def __init__(
        self,
        guard: FetchGuard,
        *,
        backend: GuardedBackend | None = None,
        verify: ssl.SSLContext | bool = True,
        **kwargs: object,
    ) -> None:
        for name in ("transport", "mounts", "proxy", "trust_env", "follow_redirects"):
            if name in kwargs:
                msg = f"GuardedClient sets {name} itself; got {name}={kwargs[name]!r}"
                raise ValueError(msg)
        super().__init__(
            transport=GuardedTransport(guard, backend=backend, verify=verify),
            trust_env=False,
            follow_redirects=False,
            **kwargs,  # type: ignore[arg-type]
        )
        self.guard = guard
