"""IP anonymisation: what of the client address, if anything, reaches a sink.

Runs once per event in the background worker, after any geo lookup has
used the raw address. Input comes from headers a client may forge, so
anything that is not a plain IPv4 or IPv6 address becomes ``None`` rather
than an exception or a stored string.
"""

from __future__ import annotations

import hmac
import ipaddress
import socket

__all__ = ["DEFAULT_IP_MODE", "IP_MODES", "anonymise_ip", "validate_ip_mode"]

IP_MODES = ("drop", "full", "hash", "truncate")
"""The accepted IP modes, sorted."""

DEFAULT_IP_MODE = "truncate"
"""IPv4 to /24 and IPv6 to /48: coarse enough not to single out a household,
fine enough for network-level analysis (ISP, rough region)."""

HASH_HEX_CHARS = 16
"""Hex characters kept from the HMAC in ``hash`` mode (64 bits): no
collisions to speak of among one day's addresses, and short in storage."""

# Longest valid text is an IPv6 address with embedded IPv4 plus a zone id;
# anything much longer is junk and is refused before parsing.
_MAX_LEN = 100
# 2002::/16 (6to4) carries the whole client IPv4 address in bits 16-47, so a
# /48 would keep it intact; /40 keeps only its first three octets, like /24.
_SIXTOFOUR_PREFIX = b"\x20\x02"
_MAPPED_PREFIX = bytes(10) + b"\xff\xff"  # ::ffff:0:0/96


def validate_ip_mode(mode: str) -> str:
    """Return ``mode`` lower-cased and stripped, or raise if it is not a known mode.

    Raises:
        ValueError: naming the allowed values.
    """
    normal = str(mode).strip().lower()
    if normal not in IP_MODES:
        raise _mode_error(mode)
    return normal


def _mode_error(mode: str) -> ValueError:
    return ValueError(f"invalid IP mode {mode!r}; expected one of: {', '.join(IP_MODES)}")


def anonymise_ip(ip: str | None, mode: str = DEFAULT_IP_MODE, *,
                 key: bytes | None = None) -> str | None:
    """Apply an IP mode to one client address.

    Args:
        ip: An IPv4 or IPv6 address as text. A zone id (``fe80::1%eth0``),
            surrounding brackets and whitespace are tolerated; IPv4-mapped
            IPv6 (``::ffff:192.0.2.1``) is treated as the IPv4 address.
        mode: ``truncate`` (IPv4 /24, IPv6 /48), ``full`` (the address in
            canonical form), ``hash`` (keyed HMAC-SHA256, 16 hex characters)
            or ``drop``.
        key: The HMAC key for ``hash`` mode; pass the current daily salt.

    Returns:
        The anonymised address, or ``None`` for ``drop``, a missing address
        or one that does not parse. Never raises for bad input.

    Raises:
        ValueError: for an unknown ``mode``, or ``hash`` without a ``key``
            (configuration errors, caught at start-up by the caller).
    """
    if mode == "drop" or not ip:
        if mode not in IP_MODES:
            raise _mode_error(mode)
        return None
    if mode == "truncate":
        # Fast path: most traffic is plain dotted IPv4, no parser needed.
        head = _ipv4_head(ip)
        if head is not None:
            return head + ".0"
    elif mode not in IP_MODES:
        raise _mode_error(mode)
    elif mode == "hash" and not key:
        raise ValueError("IP mode 'hash' needs a key (the daily salt)")
    packed = _packed(ip)
    if packed is None:
        return None
    if mode == "hash" and key:
        return hmac.digest(key, packed, "sha256").hex()[:HASH_HEX_CHARS]
    if mode == "full":
        return str(ipaddress.ip_address(packed))  # RFC 5952 text on every platform
    return _truncate(packed)


def _ipv4_head(ip: str) -> str | None:
    """``"192.0.2.77"`` → ``"192.0.2"``; ``None`` unless ``ip`` is strict dotted IPv4."""
    if len(ip) > 15:
        return None
    parts = ip.split(".")
    if len(parts) != 4:
        return None
    for part in parts:
        # isascii: str.isdigit accepts other scripts' digits; leading zeros are
        # refused as ipaddress does, since some parsers read them as octal.
        if not (part.isascii() and part.isdigit() and len(part) <= 3 and int(part) <= 255):
            return None
        if len(part) > 1 and part[0] == "0":
            return None
    return ip.rpartition(".")[0]


def _packed(ip: str) -> bytes | None:
    """Parse leniently into 4 or 16 bytes; unwrap IPv4-mapped IPv6, drop any zone id.

    ``inet_pton`` is C and strict, and about ten times faster than
    :mod:`ipaddress` on IPv6.
    """
    if len(ip) > _MAX_LEN:
        return None
    text = ip.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" not in text:
        if _ipv4_head(text) is None:
            return None
        return bytes(int(part) for part in text.split("."))
    try:
        packed = socket.inet_pton(socket.AF_INET6, text.partition("%")[0])
    except (OSError, ValueError):  # ValueError: NUL bytes, unencodable text
        return None
    return packed[12:] if packed[:12] == _MAPPED_PREFIX else packed


def _truncate(packed: bytes) -> str:
    if len(packed) == 4:
        return socket.inet_ntop(socket.AF_INET, packed[:3] + b"\0")
    keep = 5 if packed[:2] == _SIXTOFOUR_PREFIX else 6  # /40 or /48
    # The kept prefix is followed by at least 10 zero bytes, which every
    # inet_ntop prints as a trailing "::", as RFC 5952 does.
    return socket.inet_ntop(socket.AF_INET6, packed[:keep] + bytes(16 - keep))
