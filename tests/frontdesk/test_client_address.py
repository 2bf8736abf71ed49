"""The client's address: the peer, unless the peer is a trusted proxy that forwarded another one."""

from __future__ import annotations

import pytest

from frontdesk.api.client_address import parse_address, resolve, trusted_networks
from frontdesk.rate_limits import address_key

PROXIES = trusted_networks("127.0.0.1, 10.0.0.0/8, fd00::/8")


def test_an_untrusted_peer_is_the_client_whatever_it_claims() -> None:
    assert resolve("203.0.113.9", ["1.2.3.4"], ["for=1.2.3.4"], PROXIES) == "203.0.113.9"
    assert resolve("203.0.113.9", ["1.2.3.4"], [], ()) == "203.0.113.9"
    assert resolve("127.0.0.1", ["1.2.3.4"], [], ()) == "127.0.0.1", "no proxies trusted by default"


def test_x_forwarded_for_is_read_from_the_right_skipping_trusted_proxies() -> None:
    # A client may put anything on the left; only what our proxies appended counts.
    assert resolve("127.0.0.1", ["6.6.6.6, 198.51.100.7, 10.1.2.3"], [], PROXIES) == "198.51.100.7"
    assert resolve("127.0.0.1", ["6.6.6.6", "198.51.100.7"], [], PROXIES) == "198.51.100.7", "several headers"
    assert resolve("10.0.0.5", ["10.0.0.9"], [], PROXIES) == "10.0.0.9", "all trusted: the farthest"
    assert resolve("127.0.0.1", [], [], PROXIES) == "127.0.0.1", "no header: the proxy itself"
    assert resolve("127.0.0.1", ["not-an-ip, 10.0.0.2"], [], PROXIES) == "10.0.0.2", "garbage stops the walk"
    assert resolve("::ffff:127.0.0.1", ["[2001:db8::1]:443"], [], PROXIES) == "2001:db8::1"


def test_forwarded_is_used_without_x_forwarded_for() -> None:
    header = 'for=6.6.6.6, for="[2001:db8::7]:4711";proto=https, for=10.0.0.3'
    assert resolve("127.0.0.1", [], [header], PROXIES) == "2001:db8::7"
    assert resolve("127.0.0.1", [], ["for=192.0.2.60:8080;by=10.0.0.1"], PROXIES) == "192.0.2.60"


def test_addresses_parse_with_ports_brackets_and_mapped_ipv4() -> None:
    assert str(parse_address("192.0.2.1:80")) == "192.0.2.1"
    assert str(parse_address('"[::1]:80"')) == "::1"
    assert str(parse_address("::ffff:192.0.2.1")) == "192.0.2.1"
    assert parse_address("unknown") is None and parse_address("_hidden") is None


def test_bad_proxy_settings_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'10.0.0.0/33'"):
        trusted_networks("10.0.0.0/33")


def test_ipv6_clients_count_by_their_64() -> None:
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert address_key("192.0.2.1") == "192.0.2.1"
