"""Segment analytics.js cookies: ``ajs_anonymous_id`` and ``ajs_user_id``.

Two encodings are in use:

- analytics-next writes strings raw through js-cookie (``ajs_anonymous_id=5d9f…``);
- classic analytics.js writes ``encodeURIComponent(JSON.stringify(id))``
  (``ajs_anonymous_id=%225d9f…%22``).

Segment keeps no session in cookies.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sstrack.stitch.cookies import as_id, cookie_value, percent_decode

__all__ = ["decode_segment_value", "read_segment"]


def decode_segment_value(raw: str) -> str | None:
    """Decode either encoding to the id it holds; None for empty, ``null`` or undecodable.

    Args:
        raw: The cookie value as sent.
    """
    decoded = percent_decode(raw)
    if decoded is None:
        return None
    if len(decoded) >= 2 and decoded[0] == decoded[-1] == '"':
        try:
            loaded: Any = json.loads(decoded)
        except ValueError:
            # js-cookie strips literal quotes even when the inside is not valid JSON.
            loaded = decoded[1:-1]
        decoded = loaded if isinstance(loaded, str) else ""
    # as_id also turns analytics-next's JSON.parse of digit-only ids back into strings.
    return as_id(decoded)


def read_segment(cookies: Mapping[str, str]) -> dict[str, Any] | None:
    """Read the Segment anonymous and user ids from request cookies.

    Args:
        cookies: Cookie names to raw values, e.g. from ``parse_cookie_header``.

    Returns:
        ``anonymous_id`` and/or ``user_id``, or None if neither is set.
    """
    out: dict[str, Any] = {}
    for field, name in (("anonymous_id", "ajs_anonymous_id"), ("user_id", "ajs_user_id")):
        raw = cookie_value(cookies, name)
        value = decode_segment_value(raw) if raw is not None else None
        if value is not None:
            out[field] = value
    return out or None
