from __future__ import annotations

import pytest

from sstrack.proxy import Forwarded, ProxyTrust, parse_forwarded


def xff(for_: str | None = None, proto: str | None = None, host: str | None = None,
        forwarded: str | None = None) -> Forwarded:
    return parse_forwarded(forwarded, for_, proto, host)


@pytest.mark.parametrize(("trust", "peer", "fwd", "expected"), [
    # trust nobody (default): headers are ignored entirely
    ("", "10.0.0.2", xff("203.0.113.9", "https", "evil.test"), ("10.0.0.2", "http", "h")),
    # one hop: the last X-Forwarded-For entry is the client
    ("1", "10.0.0.2", xff("1.1.1.1, 203.0.113.9", "https", "www.example.com"),
     ("203.0.113.9", "https", "www.example.com")),
    # two hops
    ("2", "10.0.0.2", xff("198.51.100.7, 203.0.113.9, 10.0.0.1"),
     ("203.0.113.9", "http", "h")),
    # fewer entries than hops: nothing is believed (as ProxyFix does)
    ("2", "10.0.0.2", xff("203.0.113.9"), ("10.0.0.2", "http", "h")),
    # CIDR: walk from the right past trusted proxies; a spoofed left entry is ignored
    ("10.0.0.0/8", "10.0.0.2", xff("6.6.6.6, 203.0.113.9, 10.1.2.3"),
     ("203.0.113.9", "http", "h")),
    # CIDR: an untrusted peer cannot forward anything
    ("10.0.0.0/8", "192.0.2.50", xff("203.0.113.9", "https"), ("192.0.2.50", "http", "h")),
    # CIDR: every entry trusted -> the leftmost is the best we know
    ("10.0.0.0/8", "10.0.0.2", xff("10.9.9.9, 10.1.1.1"), ("10.9.9.9", "http", "h")),
    # garbage in the client's position names no address
    ("1", "10.0.0.2", xff("unknown"), (None, "http", "h")),
    # IPv6 peers and entries
    ("::1, 127.0.0.1", "::1", xff("2001:db8::5"), ("2001:db8::5", "http", "h")),
    # RFC 7239 Forwarded wins over X-Forwarded-*
    ("1", "10.0.0.2",
     parse_forwarded('for=192.0.2.60;proto=https;host=shop.example, for="[2001:db8::17]:4711"',
                     "6.6.6.6", "http", "evil"),
     ("2001:db8::17", "http", "h")),
    ("2", "10.0.0.2",
     parse_forwarded('for=192.0.2.60;proto=https;host=shop.example, for=10.0.0.1',
                     None, None, None),
     ("192.0.2.60", "https", "shop.example")),
    # an unknown proto is ignored
    ("1", "10.0.0.2", xff("203.0.113.9", "javascript"), ("203.0.113.9", "http", "h")),
])
def test_resolve(trust: str, peer: str, fwd: Forwarded,
                 expected: tuple[str | None, str, str | None]) -> None:
    assert ProxyTrust.parse(trust).resolve(peer, "http", "h", fwd) == expected


def test_single_proto_value_applies_to_every_hop() -> None:
    trust = ProxyTrust.parse("2")
    fwd = xff("203.0.113.9, 10.0.0.1", "https")
    assert trust.resolve("10.0.0.2", "http", None, fwd) == ("203.0.113.9", "https", None)


def test_header_entries_are_bounded() -> None:
    fwd = xff(", ".join(["10.0.0.1"] * 10_000) + ", " + "9" * 10_000)
    assert len(fwd.for_) == 32
    assert all(len(entry) <= 256 for entry in fwd.for_)


@pytest.mark.parametrize("value", ["abc", "10.0.0.0/33", "1.2.3.4.5", "99"])
def test_invalid_trust_settings(value: str) -> None:
    with pytest.raises(ValueError):
        ProxyTrust.parse(value)


def test_trust_parsing() -> None:
    assert not ProxyTrust.parse("").enabled
    assert ProxyTrust.parse(" 1 ").hops == 1
    trust = ProxyTrust.parse("10.0.0.0/8 127.0.0.1,::1")
    assert [str(n) for n in trust.networks] == ["10.0.0.0/8", "127.0.0.1/32", "::1/128"]
