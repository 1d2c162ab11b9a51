"""Mixpanel cookie: ``mp_<token>_mixpanel``.

The value is ``encodeURIComponent(JSON.stringify(props))`` (mixpanel-js
``mixpanel-persistence.js``). Since 2.46 an anonymous ``distinct_id`` is
``"$device:" + $device_id`` and ``identify()`` sets ``distinct_id`` and
``$user_id``; before, ``distinct_id`` equalled a non-UUID ``$device_id``.
Versions before 2.62 wrote ``": "`` separators, which a JSON parser accepts.
Mixpanel keeps no session in this cookie.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sstrack.stitch.cookies import as_id, load_json_object, percent_decode, scan

__all__ = ["parse_mixpanel_cookie", "read_mixpanel"]

# Project tokens are 32 hex characters; anything alphanumeric and short is read.
_NAME = re.compile(r"mp_([0-9A-Za-z]{1,64})_mixpanel")
_DEVICE_PREFIX = "$device:"


def parse_mixpanel_cookie(raw: str) -> dict[str, Any] | None:
    """Parse an ``mp_<token>_mixpanel`` value into ``distinct_id``, ``device_id`` and ``user_id``.

    Args:
        raw: The cookie value as sent.

    Returns:
        The ids found, or None if there are none.
    """
    decoded = percent_decode(raw)
    props = load_json_object(decoded) if decoded is not None else None
    if props is None:
        return None
    distinct_id = as_id(props.get("distinct_id"))
    device_id = as_id(props.get("$device_id"))
    if device_id is None and distinct_id is not None and distinct_id.startswith(_DEVICE_PREFIX):
        device_id = as_id(distinct_id[len(_DEVICE_PREFIX) :])
    out = {
        "distinct_id": distinct_id,
        "device_id": device_id,
        "user_id": as_id(props.get("$user_id")),
    }
    out = {k: v for k, v in out.items() if v is not None}
    return out or None


def read_mixpanel(cookies: Mapping[str, str]) -> dict[str, Any] | None:
    """Read the Mixpanel identity from request cookies.

    The cookie carries no timestamp, so when several projects' cookies are
    present the first usable one in the header is used; ``token`` says which.

    Args:
        cookies: Cookie names to raw values, e.g. from ``parse_cookie_header``.

    Returns:
        ``token``, ``distinct_id``, ``device_id`` and ``user_id`` where known, or None.
    """
    for match, raw in scan(cookies, "mp_", _NAME):
        parsed = parse_mixpanel_cookie(raw)
        if parsed is not None:
            return {"token": match.group(1), **parsed}
    return None
