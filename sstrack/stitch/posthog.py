"""PostHog cookie: ``ph_<token>_posthog``.

The value is ``encodeURIComponent(JSON.stringify(props))``. In the default
``localStorage+cookie`` persistence the cookie holds only ``distinct_id``,
``$device_id``, ``$sesid``, ``$user_state`` and a few flags; legacy ``cookie``
persistence holds everything. ``$sesid`` is ``[lastActivityMs, sessionId,
sessionStartMs]`` (``sessionid.ts``); older versions wrote only the first two.
"""

from __future__ import annotations

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

__all__ = ["parse_posthog_cookie", "read_posthog"]

# The token has '+', '/' and '=' replaced by letters; the "_posthog_cpm" sibling does not match.
_NAME = re.compile(r"ph_([0-9A-Za-z_-]{0,128})_posthog")
# posthog-js ends any session 24 hours after it started, whatever the activity.
_MAX_SESSION_MS = 24 * 3600 * 1000


def _session(sesid: Any, now_ms: int) -> tuple[int | None, dict[str, Any]]:
    """Return (last activity ms, fields) of a ``$sesid``: the id and start only if live."""
    if not isinstance(sesid, list) or len(sesid) not in (2, 3):
        return None, {}
    last = as_int(sesid[0])
    start = as_int(sesid[2]) if len(sesid) == 3 else last
    session_id = as_id(sesid[1])
    fields: dict[str, Any] = {"last_activity_at": iso_from_ms(last)}
    # A session idle past 30 minutes, or older than 24 hours, is rotated by
    # posthog-js on its next event: an old id would misattribute this request.
    if session_id and is_live(last, now_ms) and is_live(start, now_ms, _MAX_SESSION_MS):
        fields["session_id"] = session_id
        fields["session_started_at"] = iso_from_ms(start)
    return last, fields


def parse_posthog_cookie(raw: str, now_ms: int) -> tuple[int, dict[str, Any]] | None:
    """Parse a ``ph_<token>_posthog`` value.

    Args:
        raw: The cookie value as sent.
        now_ms: The current time, epoch milliseconds.

    Returns:
        (last activity in epoch ms or 0, fields), or None if it holds no identity.
    """
    decoded = percent_decode(raw)
    props = load_json_object(decoded) if decoded is not None else None
    if props is None:
        return None
    out: dict[str, Any] = {
        "distinct_id": as_id(props.get("distinct_id")),
        "device_id": as_id(props.get("$device_id")),
        "user_state": as_id(props.get("$user_state")),
    }
    if out["distinct_id"] is None and out["device_id"] is None:
        return None
    last, session = _session(props.get("$sesid"), now_ms)
    out.update(session)
    return (last or 0), {k: v for k, v in out.items() if v is not None}


def read_posthog(cookies: Mapping[str, str], *, now_ms: int) -> dict[str, Any] | None:
    """Read the PostHog identity from request cookies.

    When several projects' cookies are present, the one active most recently
    is used (the first in the header on a tie).

    Args:
        cookies: Cookie names to raw values, e.g. from ``parse_cookie_header``.
        now_ms: The current time, epoch milliseconds.

    Returns:
        The fields found (see docs/stitching.md), or None.
    """
    best: tuple[int, dict[str, Any]] | None = None
    for match, raw in scan(cookies, "ph_", _NAME):
        parsed = parse_posthog_cookie(raw, now_ms)
        if parsed is not None and (best is None or parsed[0] > best[0]):
            token = {"token": match.group(1)} if match.group(1) else {}
            best = (parsed[0], {**token, **parsed[1]})
    return best[1] if best else None
