"""Google Analytics 4 cookies: ``_ga`` (client id) and ``_ga_<container>`` (session state).

Google publishes no format; these layouts are the ones observed in the wild::

    _ga          GA1.1.1197596843.1673515099            client id after the second dot
    _ga_<ID>     GS1.1.1673933110.12.0.1673933110.60.0.0  positional, '.'-separated
    _ga_<ID>     GS2.1.s1746825440$o14$g1$t1746825512$j48$l0$h0   keyed tokens, '$'-separated

In both session layouts ``s`` is the session id (epoch seconds of its start),
``o`` the session number, ``g`` the engaged flag and ``t`` the last hit (epoch s).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sstrack.stitch.cookies import (
    as_id,
    cookie_value,
    is_live,
    iso_from_ms,
    parse_uint,
    percent_decode,
    scan,
)

__all__ = ["parse_client_id", "parse_session_cookie", "read_ga"]

# The middle number counts domain components (UA wrote e.g. "1-2" for a non-root path).
_CLIENT_COOKIE = re.compile(r"GA[0-9]{1,3}\.[0-9]{1,3}(?:-[0-9]{1,3})?\.(.+)", re.DOTALL)
# gtag names the cookie after the measurement id with "G-" replaced by "_ga_".
_SESSION_NAME = re.compile(r"_ga_([0-9A-Za-z]{1,20})")
_SESSION_COOKIE = re.compile(r"GS([0-9]{1,3})\.[0-9]{1,3}\.(.*)", re.DOTALL)
# GS1 positions, named with the GS2 token letters they correspond to.
_GS1_KEYS = "sogtjlh"
_MAX_TOKENS = 16
_ENGAGED = {"1": True, "0": False}


def parse_client_id(raw: str) -> str | None:
    """Return the client id of a ``_ga`` value (everything after the second dot), or None."""
    decoded = percent_decode(raw)
    match = _CLIENT_COOKIE.fullmatch(decoded) if decoded is not None else None
    return as_id(match.group(1)) if match else None


def _tokens(version: str, rest: str) -> dict[str, str]:
    """Return the session fields keyed by their GS2 letter, whichever layout was used."""
    if version == "1":
        # Trailing fields may be missing (truncation): zip stops at the shorter.
        return dict(zip(_GS1_KEYS, rest.split(".", len(_GS1_KEYS)), strict=False))
    tokens: dict[str, str] = {}
    # Token order is not guaranteed in GS2, so read by key; the first of a key wins.
    for token in rest.split("$", _MAX_TOKENS)[:_MAX_TOKENS]:
        if token and token[0] not in tokens:
            tokens[token[0]] = token[1:]
    return tokens


def parse_session_cookie(raw: str, now_ms: int) -> tuple[int, dict[str, Any]] | None:
    """Parse a ``_ga_<container>`` value in the GS1 or GS2 layout.

    Args:
        raw: The cookie value as sent.
        now_ms: The current time, epoch milliseconds, to decide whether the session is live.

    Returns:
        (last activity in epoch seconds, fields), or None if nothing usable was found.
    """
    decoded = percent_decode(raw)
    match = _SESSION_COOKIE.fullmatch(decoded) if decoded is not None else None
    if match is None:
        return None
    tokens = _tokens(match.group(1), match.group(2))
    session_id, number, last_hit = (parse_uint(tokens.get(key)) for key in "sot")
    last_active = last_hit if last_hit is not None else session_id
    fields: dict[str, Any] = {
        "session_number": number,
        "engaged": _ENGAGED.get(tokens.get("g", "")),
        "last_hit_at": iso_from_ms(last_hit * 1000) if last_hit is not None else None,
    }
    # A session idle past GA's default 30-minute timeout is over: the next hit
    # starts a new one, so an old id would misattribute this request.
    if session_id is not None and is_live(
        last_active * 1000 if last_active is not None else None, now_ms
    ):
        fields["session_id"] = session_id
    found = {k: v for k, v in fields.items() if v is not None}
    return ((last_active or 0), found) if found else None


def read_ga(cookies: Mapping[str, str], *, now_ms: int) -> dict[str, Any] | None:
    """Read the GA4 client id and per-property session state from request cookies.

    Args:
        cookies: Cookie names to raw values, e.g. from ``parse_cookie_header``.
        now_ms: The current time, epoch milliseconds.

    Returns:
        ``client_id``; the most recently hit property's ``measurement_id``,
        ``session_id``, ``session_number``, ``engaged`` and ``last_hit_at``;
        and ``sessions`` keyed by measurement id. None if nothing was found.
    """
    out: dict[str, Any] = {}
    raw_client = cookie_value(cookies, "_ga")
    client_id = parse_client_id(raw_client) if raw_client is not None else None
    if client_id is not None:
        out["client_id"] = client_id
    sessions: dict[str, dict[str, Any]] = {}
    latest: tuple[int, str] | None = None
    for match, raw in scan(cookies, "_ga_", _SESSION_NAME):
        parsed = parse_session_cookie(raw, now_ms)
        if parsed is None:
            continue
        measurement_id = "G-" + match.group(1)
        sessions[measurement_id] = parsed[1]
        if latest is None or parsed[0] > latest[0]:
            latest = (parsed[0], measurement_id)
    if latest is not None:
        out["measurement_id"] = latest[1]
        out.update(sessions[latest[1]])
        out["sessions"] = sessions
    return out or None
