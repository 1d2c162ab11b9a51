"""Snowplow cookies: the tracker's ``_sp_id.<suffix>`` and ``_sp_ses.<suffix>``, and ``sp``.

The ``_sp_id`` value is dot-separated; trackers up to 2.4 wrote 5 fields, 2.5
to 3.4 wrote 6, and 3.5 onwards writes 10 (``id_cookie.ts``)::

    domainUserId.createTs.visitCount.nowTs.lastVisitTs.sessionId.
    previousSessionId.firstEventId.firstEventTsMs.eventIndex
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sstrack.stitch.cookies import (
    cookie_value,
    iso_from_ms,
    parse_uint,
    percent_decode,
    scan,
)

__all__ = ["DEFAULT_PREFIX", "IdCookie", "parse_id_cookie", "read_snowplow"]

#: The JS tracker's default ``cookieName`` option.
DEFAULT_PREFIX = "_sp_"

# The suffix is 4 hex characters of a SHA-1 (the cookie domain and path), but
# nothing depends on that, so any short alphanumeric suffix is read.
_SUFFIX = re.compile(r"[0-9A-Za-z]{1,32}")
# v4 UUIDs since tracker 2.6.0, 16 hex characters before; enrich allows 128.
_DUID = re.compile(r"[0-9A-Za-z_-]{1,128}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Collector placeholders shared by every anonymous or cookie-less visitor: not an identity.
_PLACEHOLDER_NUIDS = frozenset(
    {"00000000-0000-0000-0000-000000000000", "00000000-0000-4000-a000-000000000000"}
)


@dataclass(frozen=True)
class IdCookie:
    """The fields of one ``_sp_id`` value; None where the value left a field empty."""

    domain_userid: str | None
    created_s: int
    visit_count: int
    now_s: int
    last_visit_s: int | None
    session_id: str | None
    previous_session_id: str | None
    first_event_id: str | None
    first_event_ms: int | None
    event_index: int | None


def _field(parts: list[str], index: int) -> str | None:
    """Return a field, treating missing, empty and JavaScript's ``'undefined'`` as None."""
    if index >= len(parts) or parts[index] in ("", "undefined"):
        return None
    return parts[index]


def _uuid_field(parts: list[str], index: int) -> tuple[bool, str | None]:
    """Return (valid, value) for a field that must be empty or a UUID, as enrich requires."""
    value = _field(parts, index)
    return (value is None or _UUID.fullmatch(value) is not None), value


def parse_id_cookie(raw: str) -> IdCookie | None:
    """Parse an ``_sp_id`` value of any generation; None if the tracker could not have written it.

    Args:
        raw: The cookie value as sent (percent-encoded or not).
    """
    decoded = percent_decode(raw)
    parts = decoded.split(".", 10) if decoded is not None else []
    if not 5 <= len(parts) <= 10:
        return None
    created, visits, now = (parse_uint(_field(parts, i)) for i in (1, 2, 3))
    duid = _field(parts, 0)
    if created is None or visits is None or now is None:
        return None
    if duid is not None and _DUID.fullmatch(duid) is None:
        return None
    uuids = [_uuid_field(parts, i) for i in (5, 6, 7)]
    if not all(valid for valid, _ in uuids):
        return None
    (_, sid), (_, previous), (_, first_event) = uuids
    return IdCookie(
        domain_userid=duid,
        created_s=created,
        visit_count=visits,
        now_s=now,
        last_visit_s=parse_uint(_field(parts, 4)),
        session_id=sid,
        previous_session_id=previous,
        first_event_id=first_event,
        first_event_ms=parse_uint(_field(parts, 8)),
        event_index=parse_uint(_field(parts, 9)),
    )


def _choose(
    found: list[tuple[str, IdCookie]], live: set[str], suffix: str | None
) -> tuple[str, IdCookie] | None:
    """Pick the configured suffix, else one with a live session, else the latest ``nowTs``."""
    for candidate in found:
        if candidate[0] == suffix:
            return candidate
    pool = [c for c in found if c[0] in live] or found
    # max() keeps the first of equals, so header order breaks ties.
    return max(pool, key=lambda c: c[1].now_s, default=None)


def _session_fields(cookie: IdCookie) -> dict[str, Any]:
    """The fields describing the current session, which the tracker resets when it rotates."""
    return {
        "domain_sessionid": cookie.session_id,
        "previous_session_id": cookie.previous_session_id,
        "first_event_id": cookie.first_event_id,
        "first_event_at": iso_from_ms(cookie.first_event_ms),
        "event_index": cookie.event_index,
    }


def _iso_from_s(seconds: int | None) -> str | None:
    return iso_from_ms(seconds * 1000) if seconds is not None else None


def _describe(suffix: str, cookie: IdCookie, live: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "suffix": suffix,
        "domain_userid": cookie.domain_userid,
        "domain_sessionidx": cookie.visit_count,
        "created_at": _iso_from_s(cookie.created_s),
        "last_event_at": _iso_from_s(cookie.now_s),
        "last_visit_at": _iso_from_s(cookie.last_visit_s),
    }
    if live:
        # Without _sp_ses the tracker starts a new session on its next event:
        # reporting the old one would attribute this request to an expired session.
        out.update(_session_fields(cookie))
    return out


def _network_userid(cookies: Mapping[str, str]) -> str | None:
    value = cookie_value(cookies, "sp")
    if value is None or _UUID.fullmatch(value) is None:
        return None
    return None if value.lower() in _PLACEHOLDER_NUIDS else value


@lru_cache(maxsize=8)
def _id_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(re.escape(prefix) + r"id\.(" + _SUFFIX.pattern + ")")


def read_snowplow(
    cookies: Mapping[str, str], *, suffix: str | None = None, prefix: str = DEFAULT_PREFIX
) -> dict[str, Any] | None:
    """Read the Snowplow identity from request cookies.

    Args:
        cookies: Cookie names to raw values, e.g. from ``parse_cookie_header``.
        suffix: Prefer ``<prefix>id.<suffix>`` when present.
        prefix: The tracker's ``cookieName`` option; other prefixes are other trackers.

    Returns:
        The fields found (see docs/stitching.md), or None if there are none.
    """
    id_pattern = _id_pattern(prefix)
    found: list[tuple[str, IdCookie]] = []
    for match, raw in scan(cookies, prefix + "id.", id_pattern):
        parsed = parse_id_cookie(raw)
        if parsed is not None:
            found.append((match.group(1), parsed))
    live = {s for s, _ in found if f"{prefix}ses.{s}" in cookies}
    chosen = _choose(found, live, suffix)
    out = _describe(chosen[0], chosen[1], chosen[0] in live) if chosen else {}
    out["network_userid"] = _network_userid(cookies)
    out = {key: value for key, value in out.items() if value is not None}
    return out or None
