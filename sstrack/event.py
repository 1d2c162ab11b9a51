"""The event: its schema version, ids, timestamps, and the bounds on its values.

Everything here runs in the background worker. Values come from clients
and are hostile until proven otherwise: each is truncated to a documented
limit, and control characters are removed so that no header can break a
JSON line or a downstream CSV.
"""

from __future__ import annotations

import re
import time
from random import getrandbits
from urllib.parse import unquote_plus

__all__ = [
    "LIMITS",
    "SCHEMA",
    "clean",
    "primary_language",
    "query_pairs",
    "rfc3339",
    "uuid7",
]

SCHEMA = "sstrack.event/1"
"""The value of every event's ``schema`` field; the major version changes only
when a field changes meaning or type (new fields are added within a version)."""

LIMITS = {
    "url": 4096,
    "path": 2048,
    "referrer": 4096,
    "user_agent": 1024,
    "host": 255,
    "query_params": 100,
    "query_name": 256,
    "query_value": 2048,
    "query_string": 16384,
}
"""Maximum lengths, in characters, of captured values; longer values are cut."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def clean(value: str | None, limit: int) -> str | None:
    """Truncate to ``limit`` characters and drop control characters.

    ``isprintable`` is a C-speed check that is true for nearly every real
    value, so the regex only runs on the rare hostile one.
    """
    if value is None:
        return None
    if len(value) > limit:
        value = value[:limit]
    if not value.isprintable():
        value = _CONTROL.sub("", value)
    return value


def query_pairs(query_string: str) -> list[dict[str, str]]:
    """Parse a query string into ``[{"param": …, "value": …}, …]``, repeats kept in order.

    A list of pairs rather than an object: it keeps repeated parameters,
    and it loads into BigQuery (a repeated record) and DuckDB (a list of
    structs) with a fixed schema whatever parameter names a site uses.
    """
    if not query_string:
        return []
    if len(query_string) > LIMITS["query_string"]:
        query_string = query_string[: LIMITS["query_string"]]
    limit_name, limit_value = LIMITS["query_name"], LIMITS["query_value"]
    pairs = []
    for part in query_string.split("&", LIMITS["query_params"])[: LIMITS["query_params"]]:
        if not part:
            continue
        name, _, value = part.partition("=")
        # unquote_plus only where needed: most parameters are plain ASCII.
        if "%" in part or "+" in part:
            name = unquote_plus(name, errors="replace")
            value = unquote_plus(value, errors="replace")
        pairs.append({"param": clean(name, limit_name) or "",
                      "value": clean(value, limit_value) or ""})
    return pairs


_languages: dict[str, str | None] = {}


def primary_language(accept_language: str | None) -> str | None:
    """The primary subtag of the most preferred language (``"de-DE,en;q=0.8"`` → ``"de"``).

    A site sees few distinct Accept-Language values, so results are cached
    (the cache is emptied when it reaches 1024 entries, which bounds memory
    whatever clients send).
    """
    if not accept_language:
        return None
    try:
        return _languages[accept_language]
    except KeyError:
        pass
    if len(_languages) >= 1024:
        _languages.clear()
    language = _languages[accept_language] = _parse_language(accept_language)
    return language


def _parse_language(accept_language: str) -> str | None:
    best, best_q = None, -1.0
    for entry in accept_language.split(",", 16)[:16]:
        tag, _, params = entry.partition(";")
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:7])
            except ValueError:
                continue
        if q > best_q:
            best, best_q = tag.strip(), q
    if not best:
        return None
    primary = best.split("-", 1)[0].lower()
    return primary if 1 < len(primary) < 9 and primary.isascii() and primary.isalpha() else None


_last_second = -1
_last_prefix = ""


def rfc3339(timestamp: float) -> str:
    """``2026-11-22T06:53:58.123Z``: UTC, millisecond precision."""
    global _last_second, _last_prefix
    millis = int(timestamp * 1000)
    second, ms = divmod(millis, 1000)
    if second != _last_second:
        # One worker thread calls this; caching the formatted second saves
        # most of the cost when many events share it.
        _last_prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _last_second = second
    return f"{_last_prefix}.{ms:03d}Z"


def uuid7(timestamp: float) -> str:
    """A version-7 UUID (RFC 9562): 48-bit millisecond time, then random bits.

    Ids sort by time, so files and tables sorted by ``event_id`` are in
    capture order to the millisecond.
    """
    # Event ids must be unique, not secret: the Mersenne Twister is ten times
    # cheaper than os.urandom here, and the random module reseeds itself in
    # a forked child, so two workers never share a sequence.
    h = f"{int(timestamp * 1000) & 0xFFFF_FFFF_FFFF:012x}{getrandbits(80):020x}"
    # version 7 in the 13th hex digit, RFC 4122 variant (10xx) in the 17th
    return f"{h[:8]}-{h[8:12]}-7{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}
