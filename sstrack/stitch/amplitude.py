"""Amplitude cookies: ``AMP_<apiKey[:10]>`` (Browser SDK 2.x) and legacy ``amp_<apiKey[:6]>``.

- ``AMP_…`` is ``btoa(encodeURIComponent(JSON.stringify(cache)))`` with the keys
  ``deviceId``, ``userId``, ``sessionId`` (epoch ms of the session start),
  ``lastEventTime`` (epoch ms) and ``optOut`` (``analytics-core/src/storage/cookie.ts``).
- amplitude-js wrote ``deviceId.base64(userId).optOut.sessionId.lastEventTime.…``
  with the numbers in base 32 (``metadata-storage.js``), optionally with
  ``_<domain>`` appended to the name.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any

from sstrack.stitch.cookies import (
    as_id,
    as_int,
    is_live,
    iso_from_ms,
    load_json_object,
    percent_decode,
    scan,
)

__all__ = ["parse_amp_cookie", "parse_legacy_cookie", "read_amplitude"]

# Exactly 10 characters leaves out AMP_MKTG_<key> (attribution) and AMP_TLDTEST.
_NAME = re.compile(r"AMP_([0-9A-Za-z]{10})")
_LEGACY_NAME = re.compile(r"amp_([0-9A-Za-z]{6})(?:_[0-9A-Za-z.-]{1,253})?")
# JavaScript's parseInt(x, 32) digits; Python's int() would also take '_' and spaces.
_BASE32 = re.compile(r"[0-9a-vA-V]{1,12}")


def _b64_text(value: str) -> str | None:
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        return None


def _decode(raw: str) -> dict[str, Any] | None:
    """base64, then percent-decoding, then JSON; retried after one more percent-decoding.

    The retry is the SDK's own fallback for Rails 7, which URL-encodes cookie values again.
    """
    for candidate in (raw, percent_decode(raw)):
        text = _b64_text(candidate) if candidate is not None else None
        decoded = percent_decode(text) if text is not None else None
        loaded = load_json_object(decoded) if decoded is not None else None
        if loaded is not None:
            return loaded
    return None


def _fields(
    device_id: Any,
    user_id: Any,
    session_id: int | None,
    last_ms: int | None,
    opt_out: bool | None,
    now_ms: int,
) -> tuple[int, dict[str, Any]] | None:
    """Build the output fields shared by both cookie formats."""
    out: dict[str, Any] = {
        "device_id": as_id(device_id),
        "user_id": as_id(user_id),
        "opt_out": opt_out,
        "last_event_at": iso_from_ms(last_ms),
    }
    if out["device_id"] is None and out["user_id"] is None:
        return None
    # A session whose last event is 30 minutes old is replaced by the SDK on its next event.
    last_active = last_ms or session_id
    if session_id and is_live(last_active, now_ms):
        out["session_id"] = session_id
    return (last_active or 0), {k: v for k, v in out.items() if v is not None}


def parse_amp_cookie(raw: str, now_ms: int) -> tuple[int, dict[str, Any]] | None:
    """Parse an ``AMP_<key>`` value; returns (last activity ms or 0, fields) or None."""
    cache = _decode(raw)
    if cache is None:
        return None
    opt_out = cache.get("optOut")
    return _fields(
        cache.get("deviceId"),
        cache.get("userId"),
        as_int(cache.get("sessionId")),
        as_int(cache.get("lastEventTime")),
        opt_out if isinstance(opt_out, bool) else None,
        now_ms,
    )


def _base32(text: str) -> int | None:
    return int(text, 32) if _BASE32.fullmatch(text) else None


def parse_legacy_cookie(raw: str, now_ms: int) -> tuple[int, dict[str, Any]] | None:
    """Parse an amplitude-js ``amp_<key>`` value; (last activity ms or 0, fields) or None."""
    decoded = percent_decode(raw)
    parts = decoded.split(".", 8) if decoded is not None else []
    if not 5 <= len(parts) <= 8:
        return None
    user_id = _b64_text(parts[1]) if parts[1] else None
    return _fields(parts[0], user_id, _base32(parts[3]), _base32(parts[4]), parts[2] == "1", now_ms)


def read_amplitude(cookies: Mapping[str, str], *, now_ms: int) -> dict[str, Any] | None:
    """Read the Amplitude identity from request cookies.

    The ``AMP_`` cookie with the most recent activity wins; the legacy
    ``amp_`` format is read only when no ``AMP_`` cookie is usable (the SDK
    migrates and deletes it).

    Args:
        cookies: Cookie names to raw values, e.g. from ``parse_cookie_header``.
        now_ms: The current time, epoch milliseconds.

    Returns:
        The fields found (see docs/stitching.md), or None.
    """
    for prefix, pattern, parse in (
        ("AMP_", _NAME, parse_amp_cookie),
        ("amp_", _LEGACY_NAME, parse_legacy_cookie),
    ):
        best: tuple[int, dict[str, Any]] | None = None
        for match, raw in scan(cookies, prefix, pattern):
            parsed = parse(raw, now_ms)
            if parsed is not None and (best is None or parsed[0] > best[0]):
                best = (parsed[0], {"api_key_prefix": match.group(1), **parsed[1]})
        if best is not None:
            return best[1]
    return None
