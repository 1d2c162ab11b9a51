"""IP anonymisation on real addresses: IPv4, IPv6, mapped, zoned, 6to4 and junk."""

from __future__ import annotations

import hmac
import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sstrack.privacy.ip import HASH_HEX_CHARS, IP_MODES, anonymise_ip, validate_ip_mode

KEY = b"k" * 32
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("203.0.113.77", "203.0.113.0"),
        ("8.8.8.8", "8.8.8.0"),
        ("10.0.0.255", "10.0.0.0"),
        ("255.255.255.255", "255.255.255.0"),
        ("0.0.0.0", "0.0.0.0"),
        (" 198.51.100.9 ", "198.51.100.0"),  # stray whitespace from a header
        ("2001:db8:abcd:12:34::1", "2001:db8:abcd::"),
        ("2001:0DB8:ABCD:0012:0000:0000:0000:0001", "2001:db8:abcd::"),
        ("2a03:2880:f12f:83:face:b00c:0:25de", "2a03:2880:f12f::"),
        ("::1", "::"),
        ("::ffff:203.0.113.77", "203.0.113.0"),  # IPv4-mapped: treated as IPv4
        ("::ffff:cb00:714d", "203.0.113.0"),  # the same, in hex
        ("fe80::1ff:fe23:4567:890a%eth0", "fe80::"),  # zone id dropped
        ("fe80::1%3", "fe80::"),
        ("[2001:db8:abcd:12::1]", "2001:db8:abcd::"),  # bracketed
        ("2002:cb00:714d::1", "2002:cb00:7100::"),  # 6to4: embedded IPv4 cut to /24
    ],
)
def test_truncate(ip: str, expected: str) -> None:
    assert anonymise_ip(ip, "truncate") == expected
    assert anonymise_ip(ip) == expected  # the default mode


@pytest.mark.parametrize(
    "ip",
    [
        None,
        "",
        "   ",
        "unknown",
        "256.1.1.1",
        "1.2.3",
        "1.2.3.4.5",
        "01.2.3.4",  # leading zero: octal to some parsers, refused
        "1.2.3.4:8080",
        "1.2.3.4/24",
        "\u0661.\u0662.\u0663.\u0664",  # Arabic-Indic digits: str.isdigit says yes, we say no
        "2001:db8::g",
        "2001:db8:::1",
        "[::1",
        "1.2.3.4, 5.6.7.8",
        "x" * 10_000,
        "<script>",
        "1.2.3.4\r\nSet-Cookie: a=b",
    ],
)
@pytest.mark.parametrize("mode", IP_MODES)
def test_invalid_is_none_in_every_mode(ip: str | None, mode: str) -> None:
    assert anonymise_ip(ip, mode, key=KEY) is None


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("203.0.113.77", "203.0.113.77"),
        ("2001:0DB8::0001", "2001:db8::1"),  # canonical form
        ("::ffff:203.0.113.77", "203.0.113.77"),
        ("fe80::1%eth0", "fe80::1"),
    ],
)
def test_full_keeps_canonical_address(ip: str, expected: str) -> None:
    assert anonymise_ip(ip, "full") == expected


def test_drop() -> None:
    assert anonymise_ip("203.0.113.77", "drop") is None
    assert anonymise_ip("2001:db8::1", "drop") is None


def test_hash_is_keyed_short_hex_and_stable() -> None:
    out = anonymise_ip("203.0.113.77", "hash", key=KEY)
    assert out is not None
    assert len(out) == HASH_HEX_CHARS
    assert int(out, 16) >= 0
    assert out == hmac.new(KEY, bytes([203, 0, 113, 77]), "sha256").hexdigest()[:HASH_HEX_CHARS]
    assert anonymise_ip("203.0.113.77", "hash", key=KEY) == out
    assert anonymise_ip("203.0.113.77", "hash", key=b"other-salt" * 4) != out
    assert anonymise_ip("203.0.113.78", "hash", key=KEY) != out


def test_hash_treats_mapped_and_plain_ipv4_alike() -> None:
    assert anonymise_ip("::ffff:203.0.113.77", "hash", key=KEY) == anonymise_ip(
        "203.0.113.77", "hash", key=KEY
    )


def test_hash_without_key_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="key"):
        anonymise_ip("203.0.113.77", "hash")


@pytest.mark.parametrize("mode", ["", "mask", "TRUNCATE", "hashed"])
def test_unknown_mode_raises(mode: str) -> None:
    with pytest.raises(ValueError, match="drop, full, hash, truncate"):
        anonymise_ip("203.0.113.77", mode)
    with pytest.raises(ValueError, match="drop, full, hash, truncate"):
        anonymise_ip(None, mode)


@pytest.mark.parametrize(
    ("given_mode", "expected"),
    [("truncate", "truncate"), (" Hash ", "hash"), ("DROP", "drop"), ("full", "full")],
)
def test_validate_ip_mode(given_mode: str, expected: str) -> None:
    assert validate_ip_mode(given_mode) == expected


def test_validate_ip_mode_lists_allowed_values() -> None:
    with pytest.raises(ValueError) as info:
        validate_ip_mode("anonymize")
    assert "'anonymize'" in str(info.value)
    assert "drop, full, hash, truncate" in str(info.value)


@settings(deadline=None)  # a loaded machine must not fail a correct test
@given(ip=st.one_of(st.ip_addresses(), st.text(max_size=60)), mode=st.sampled_from(IP_MODES))
def test_never_raises_and_never_keeps_the_host_part(ip: object, mode: str) -> None:
    text = str(ip)
    out = anonymise_ip(text, mode, key=KEY)
    if out is None or mode in ("full", "hash"):
        return
    assert mode == "truncate"
    if "." in out:  # IPv4 result: the last octet is always zero
        assert out.endswith(".0")
    else:
        assert out.endswith("::")


@settings(deadline=None)  # a loaded machine must not fail a correct test
@given(addr=st.ip_addresses())
def test_truncate_agrees_with_ipaddress(addr: IPAddress) -> None:
    """The fast paths print exactly what :mod:`ipaddress` computes for the network."""
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if isinstance(addr, ipaddress.IPv4Address):
        prefix = 24
    else:
        prefix = 40 if addr.sixtofour is not None else 48
    network = ipaddress.ip_network((addr, prefix), strict=False)
    assert anonymise_ip(str(addr)) == str(network.network_address)
    assert anonymise_ip(addr.exploded) == str(network.network_address)
    assert anonymise_ip(str(addr), "full") == str(addr)
