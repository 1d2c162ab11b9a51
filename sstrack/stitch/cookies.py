"""Cookie header splitting and the decoding helpers shared by the vendor readers.

Everything here is sans-IO, bounded in work, and never raises on bad input:
the values come straight from the client.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping
from itertools import islice
from typing import Any
from urllib.parse import unquote

__all__ = [
    "MAX_CANDIDATES",
    "MAX_COOKIES",
    "MAX_HEADER_CHARS",
    "MAX_ID_CHARS",
    "MAX_VALUE_CHARS",
    "SESSION_TIMEOUT_MS",
    "as_id",
    "as_int",
    "cookie_value",
    "is_live",
    "iso_from_ms",
    "load_json_object",
    "parse_cookie_header",
    "parse_uint",
    "percent_decode",
    "scan",
]

#: Only this much of a Cookie header is looked at. Gunicorn already refuses
#: headers over 8190 bytes; 16 KiB leaves room for servers with larger limits.
MAX_HEADER_CHARS = 16 * 1024
#: Only this many cookie pairs are split out of a header, or scanned in a mapping.
MAX_COOKIES = 200
#: RFC 6265 browsers need store no more than 4096 bytes per cookie, so a longer
#: value was not written by a vendor's tracker.
MAX_VALUE_CHARS = 4096
#: At most this many cookies per vendor are parsed (upgrade leftovers, several trackers).
MAX_CANDIDATES = 10
#: Longest identifier copied into the output; longer ones are dropped, not cut.
MAX_ID_CHARS = 512
#: Every vendor here ends an idle session after 30 minutes by default.
SESSION_TIMEOUT_MS = 30 * 60 * 1000

_UINT = re.compile(r"[0-9]{1,16}")
# Epoch milliseconds of 9999-12-31T23:59:59.999Z: datetime cannot go further.
_MAX_EPOCH_MS = 253_402_300_799_999


def parse_cookie_header(header: str) -> dict[str, str]:
    """Split a ``Cookie`` request header into a name-to-value mapping.

    Pairs are split on ``;`` and on the first ``=``, and trimmed. The first of
    two cookies with the same name wins, as the Snowplow tracker reads them.
    Values are returned raw (not percent-decoded). Only the first
    ``MAX_HEADER_CHARS`` characters and ``MAX_COOKIES`` pairs are looked at.

    Args:
        header: The raw header value.

    Returns:
        The cookies, in header order. Never raises.
    """
    if not isinstance(header, str) or not header:
        return {}
    if len(header) > MAX_HEADER_CHARS:
        # The last pair of a cut header is likely truncated mid-value, and a
        # truncated id is worse than none: keep complete pairs only.
        if header[MAX_HEADER_CHARS] == ";":
            header = header[:MAX_HEADER_CHARS]
        else:
            header = header[: max(header.rfind(";", 0, MAX_HEADER_CHARS), 0)]
    # maxsplit bounds the work; the extra last part is the unsplit remainder.
    parts = header.split(";", MAX_COOKIES)[:MAX_COOKIES]
    cookies: dict[str, str] = {}
    for part in parts:
        name, sep, value = part.partition("=")
        if not sep:
            continue
        name = name.strip()
        if name and name not in cookies:
            cookies[name] = value.strip()
    return cookies


def cookie_value(cookies: Mapping[str, str], name: str) -> str | None:
    """Return a cookie's raw value, or None if absent, empty or implausibly long."""
    value = cookies.get(name)
    if not isinstance(value, str) or not value or len(value) > MAX_VALUE_CHARS:
        return None
    return value


def scan(
    cookies: Mapping[str, str], prefix: str, pattern: re.Pattern[str]
) -> list[tuple[re.Match[str], str]]:
    """Find the cookies whose name starts with ``prefix`` and fully matches ``pattern``.

    Looks at the first ``MAX_COOKIES`` names only and returns at most
    ``MAX_CANDIDATES`` (match, raw value) pairs, in mapping order.
    """
    found: list[tuple[re.Match[str], str]] = []
    for name in islice(cookies, MAX_COOKIES):
        if not isinstance(name, str) or not name.startswith(prefix):
            continue
        match = pattern.fullmatch(name)
        value = cookie_value(cookies, name) if match else None
        if match is None or value is None:
            continue
        found.append((match, value))
        if len(found) >= MAX_CANDIDATES:
            break
    return found


def percent_decode(value: str) -> str | None:
    """Percent-decode once, like ``decodeURIComponent``; None if not valid UTF-8."""
    if "%" not in value:
        return value
    try:
        # urllib's unquote loops in Python over every escape, and a PostHog or
        # Mixpanel value has dozens. Rewriting "%XX" as "\\xXX" (after doubling
        # backslashes, so no other escape can appear) lets the C unicode_escape
        # codec do the same work several times faster.
        escaped = value.replace("\\", "\\\\").replace("%", "\\x").encode("ascii")
        return escaped.decode("unicode_escape").encode("latin-1").decode("utf-8")
    except UnicodeError:
        pass  # non-ASCII text, a malformed escape or bad UTF-8: unquote decides
    try:
        return unquote(value, errors="strict")
    except UnicodeDecodeError:
        return None


def load_json_object(text: str) -> dict[str, Any] | None:
    """Parse a JSON object of bounded size; None for anything else or on error."""
    if len(text) > MAX_VALUE_CHARS or not text.startswith("{"):
        return None
    try:
        loaded = json.loads(text)
    except (ValueError, RecursionError):
        # RecursionError: deeply nested arrays fit well inside the size cap.
        return None
    return loaded if isinstance(loaded, dict) else None


def parse_uint(text: str | None) -> int | None:
    """Parse ASCII decimal digits only (``int()`` also takes ``_``, spaces, other scripts)."""
    if text is None or _UINT.fullmatch(text) is None:
        return None
    return int(text)


def as_int(value: Any) -> int | None:
    """Return a JSON number as a non-negative int, or None if it is not a whole number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= _MAX_EPOCH_MS else None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return as_int(int(value))
    return None


def as_id(value: Any) -> str | None:
    """Return a usable identifier: a printable, non-empty string of bounded length.

    Numbers become strings (analytics libraries read digit-only ids back as
    numbers). ``"null"`` and ``"undefined"`` are what JavaScript writes for
    missing values. Non-printable text (control characters, lone surrogates)
    is refused because it could not be serialised as UTF-8 JSON.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value) if abs(value) < 10**20 else None
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value or len(value) > MAX_ID_CHARS or value in ("null", "undefined"):
        return None
    return value if value.isprintable() else None


def iso_from_ms(ms: int | None) -> str | None:
    """Format epoch milliseconds as RFC 3339 UTC, e.g. ``2026-11-22T06:53:58.000Z``."""
    if ms is None or not 0 < ms <= _MAX_EPOCH_MS:
        return None
    seconds, millis = divmod(ms, 1000)
    try:
        # gmtime: half the cost of datetime and strftime, and this runs for every timestamp.
        t = time.gmtime(seconds)
    except (OverflowError, OSError):  # some platforms stop before year 9999
        return None
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"
        f"T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{millis:03d}Z"
    )


def is_live(last_ms: int | None, now_ms: int, timeout_ms: int = SESSION_TIMEOUT_MS) -> bool:
    """Whether a session last active at ``last_ms`` is still open at ``now_ms``.

    The distance is absolute because the timestamp comes from the browser's
    clock: a client clock running ahead by more than the timeout is as
    untrustworthy as a stale session.
    """
    return last_ms is not None and last_ms > 0 and abs(now_ms - last_ms) <= timeout_ms
