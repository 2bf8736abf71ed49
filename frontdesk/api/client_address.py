"""The client's address: the peer, or, when the peer is a trusted reverse proxy, the address it forwarded.

Only proxies listed in `FRONTDESK_TRUSTED_PROXIES` are believed. Their `X-Forwarded-For` is read from the
right (each proxy appends the address it saw): the first address that is not itself a trusted proxy is the
client. Without `X-Forwarded-For`, the `for=` parameters of `Forwarded` (RFC 7239) are read the same way. A
request that comes straight from anybody else counts as its peer, whatever headers it sends. uvicorn's own
proxy-header handling is off (`frontdesk serve` passes `proxy_headers=False`), so this is the one place
that decides.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from starlette.requests import HTTPConnection

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
UNKNOWN = "unknown"


@lru_cache(maxsize=16)
def trusted_networks(setting: str) -> tuple[Network, ...]:
    """The networks of a comma-separated list of IPs and CIDRs; `ValueError` naming a bad entry."""
    networks: list[Network] = []
    for part in setting.split(","):
        text = part.strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError as exc:
            msg = f"{text!r} is not an IP address or CIDR network"
            raise ValueError(msg) from exc
    return tuple(networks)


def parse_address(text: str) -> Address | None:
    """An IP address from a header entry (`1.2.3.4`, `1.2.3.4:80`, `[::1]:80`, `"[::1]"`), or None."""
    value = text.strip().strip('"').strip()
    if value.startswith("["):
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:  # IPv4 with a port
        value = value.partition(":")[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def in_networks(address: Address, networks: tuple[Network, ...]) -> bool:
    """Whether `address` lies in one of `networks`."""
    return any(address.version == net.version and address in net for net in networks)


def _forwarded_for(headers: list[str]) -> list[str]:
    """The `for=` values of `Forwarded` headers, in order."""
    values: list[str] = []
    for header in headers:
        for element in header.split(","):
            for pair in element.split(";"):
                name, sep, value = pair.partition("=")
                if sep and name.strip().lower() == "for":
                    values.append(value)
    return values


def resolve(peer: str | None, forwarded_for: list[str], forwarded: list[str], networks: tuple[Network, ...]) -> str:
    """The client's address from the peer and the proxy headers (each header's values, in order)."""
    direct = parse_address(peer) if peer else None
    if direct is None:
        return peer or UNKNOWN
    if not in_networks(direct, networks):
        return str(direct)
    chain = [entry for header in forwarded_for for entry in header.split(",")] or _forwarded_for(forwarded)
    nearest = direct
    for entry in reversed(chain):
        hop = parse_address(entry)
        if hop is None:  # garbage (or "unknown"/an obfuscated name): the last proxy we trust handed it over
            return str(nearest)
        if not in_networks(hop, networks):
            return str(hop)
        nearest = hop
    return str(nearest)


def client_address(connection: HTTPConnection) -> str:
    """The address of the client of a request or WebSocket (see the module's description)."""
    peer = connection.client.host if connection.client else None
    runtime = getattr(connection.app.state, "runtime", None)
    setting: str = runtime.settings.trusted_proxies if runtime is not None else ""
    networks = trusted_networks(setting)
    if not networks:
        direct = parse_address(peer) if peer else None
        return str(direct) if direct is not None else (peer or UNKNOWN)
    headers = connection.headers
    return resolve(peer, headers.getlist("x-forwarded-for"), headers.getlist("forwarded"), networks)
