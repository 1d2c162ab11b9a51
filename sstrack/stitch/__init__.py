"""Read client-side analytics cookies so server events join the browser's data.

Sans-IO: everything works on the Cookie header string or a name-to-value
mapping. Nothing here raises on client input, and every step is bounded.

Example::

    cookies = parse_cookie_header(environ.get("HTTP_COOKIE", ""))
    stitch = read_stitch(cookies, StitchOptions(snowplow_suffix="8809"))
    # {"snowplow": {"domain_userid": "…", …}, "ga": {"client_id": "…"}}
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sstrack.stitch.amplitude import read_amplitude
from sstrack.stitch.cookies import parse_cookie_header
from sstrack.stitch.ga import read_ga
from sstrack.stitch.mixpanel import read_mixpanel
from sstrack.stitch.posthog import read_posthog
from sstrack.stitch.segment import read_segment
from sstrack.stitch.snowplow import DEFAULT_PREFIX, read_snowplow

__all__ = [
    "ALL_VENDORS",
    "StitchOptions",
    "adoptable_visitor_id",
    "parse_cookie_header",
    "read_stitch",
    "stitch_from_header",
]

#: Every vendor ``read_stitch`` knows, by its key in the output.
ALL_VENDORS: frozenset[str] = frozenset(
    {"snowplow", "ga", "segment", "posthog", "amplitude", "mixpanel"}
)

# The field holding each vendor's per-browser id, for adoption as the sstrack visitor id.
_DEVICE_ID_FIELDS = {
    "snowplow": "domain_userid",
    "ga": "client_id",
    "segment": "anonymous_id",
    "posthog": "device_id",
    "amplitude": "device_id",
    "mixpanel": "device_id",
}
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_NIL_UUID = "00000000-0000-0000-0000-000000000000"
_MAX_EPOCH_S = 253_402_300_799  # 9999-12-31T23:59:59Z


@dataclass(frozen=True)
class StitchOptions:
    """Which cookies ``read_stitch`` reads.

    Attributes:
        snowplow_suffix: Prefer ``_sp_id.<suffix>`` when several Snowplow id cookies exist.
        snowplow_prefix: The Snowplow tracker's ``cookieName`` option.
        vendors: The vendors to read; the others are skipped.
    """

    snowplow_suffix: str | None = None
    snowplow_prefix: str = DEFAULT_PREFIX
    vendors: frozenset[str] = ALL_VENDORS


def _readers(
    options: StitchOptions, now_ms: int
) -> list[tuple[str, Callable[[Mapping[str, str]], dict[str, Any] | None]]]:
    """The vendor readers, in output order, bound to the options and the time."""
    return [
        (
            "snowplow",
            lambda c: read_snowplow(
                c, suffix=options.snowplow_suffix, prefix=options.snowplow_prefix
            ),
        ),
        ("ga", lambda c: read_ga(c, now_ms=now_ms)),
        ("segment", read_segment),
        ("posthog", lambda c: read_posthog(c, now_ms=now_ms)),
        ("amplitude", lambda c: read_amplitude(c, now_ms=now_ms)),
        ("mixpanel", read_mixpanel),
    ]


def _now_ms(now: float | None) -> int:
    """``now`` in epoch ms; the system clock if it is missing or not a plausible time."""
    if isinstance(now, (int, float)) and math.isfinite(now) and 0 <= now <= _MAX_EPOCH_S:
        return int(now * 1000)
    return int(time.time() * 1000)


def read_stitch(
    cookies: Mapping[str, str],
    options: StitchOptions = StitchOptions(),  # frozen, so one shared default is safe
    *,
    now: float | None = None,
) -> dict[str, dict[str, Any]]:
    """Read every configured vendor's ids from request cookies.

    Args:
        cookies: Cookie names to raw values; use ``parse_cookie_header`` so the
            first of duplicate cookies wins, as the trackers read them.
        options: Which vendors and which Snowplow cookies to read.
        now: The current time in epoch seconds, used to decide whether a
            session stored with its own timestamps (GA, PostHog, Amplitude) is
            still live. Defaults to the system clock.

    Returns:
        One sub-object per vendor found, keyed ``snowplow``, ``ga``,
        ``segment``, ``posthog``, ``amplitude`` or ``mixpanel``; vendors
        without cookies are absent. Values are JSON-serialisable. Never raises.
    """
    stitch: dict[str, dict[str, Any]] = {}
    if not isinstance(cookies, Mapping):
        return stitch
    now_ms = _now_ms(now)
    for vendor, read in _readers(options, now_ms):
        if vendor not in options.vendors:
            continue
        try:
            found = read(cookies)
        except Exception:
            # The parsers are written not to raise; should one still fail on
            # some input, the request loses that vendor's ids and nothing else.
            continue
        if found:
            stitch[vendor] = found
    return stitch


# Every cookie a reader looks at starts with one of these (or with the
# Snowplow prefix, or is the collector's "sp").
_VENDOR_PREFIXES = {"_ga": "ga", "ajs_": "segment", "ph_": "posthog", "AMP_": "amplitude",
                    "amp_": "amplitude", "mp_": "mixpanel"}


_CACHE_SIZE = 1024
_cache: dict[tuple[str, int, StitchOptions], dict[str, dict[str, Any]]] = {}


def _copy(value: Any) -> Any:
    return {k: _copy(v) for k, v in value.items()} if isinstance(value, dict) else value


def stitch_from_header(header: str, options: StitchOptions = StitchOptions(), *,
                       now: float | None = None) -> dict[str, dict[str, Any]]:
    """``read_stitch`` for a raw Cookie header, reusing the result for a repeated header.

    A visitor's requests within a page view (and the API calls it makes)
    send the same Cookie header, so results are cached for the minute: a
    session's liveness is then judged up to 60 s late, against timeouts of
    30 minutes. Callers get their own copy, so changing it is safe. The
    cache is emptied when it holds 1024 headers.
    """
    key = (header, int(now if now is not None else time.time()) // 60, options)
    cached = _cache.get(key)
    if cached is None:
        if len(_cache) >= _CACHE_SIZE:
            _cache.clear()
        cached = _cache[key] = _read_header(header, options, now)
    return _copy(cached)  # type: ignore[no-any-return]


def _read_header(header: str, options: StitchOptions,
                 now: float | None) -> dict[str, dict[str, Any]]:
    """Split a header, skipping every cookie no vendor reads, and read the vendors present.

    Most of a real header is session ids, CSRF tokens and consent flags; the
    readers then only see the few candidates, and a header with none costs a
    split and a prefix test per cookie.
    """
    prefixes = (options.snowplow_prefix, *_VENDOR_PREFIXES)
    candidates = {name: value for name, value in parse_cookie_header(header).items()
                  if name.startswith(prefixes) or name == "sp"}
    if not candidates:
        return {}
    # Run only the readers that have a cookie to read.
    present = {vendor for prefix, vendor in _VENDOR_PREFIXES.items()
               if any(name.startswith(prefix) for name in candidates)}
    if "sp" in candidates or any(name.startswith(options.snowplow_prefix) for name in candidates):
        present.add("snowplow")
    vendors = options.vendors & present
    if not vendors:
        return {}
    return read_stitch(candidates, StitchOptions(options.snowplow_suffix, options.snowplow_prefix,
                                                 vendors), now=now)


def adoptable_visitor_id(stitch: Mapping[str, Mapping[str, Any]], source: str) -> str | None:
    """Return a vendor's device id if sstrack can adopt it as its own visitor id.

    sstrack visitor ids are canonical lowercase UUIDs, so only a vendor id in
    that form (8-4-4-4-12 hex digits, any case) qualifies. The nil UUID never
    does: it would merge every visitor who has it.

    Args:
        stitch: The output of ``read_stitch``.
        source: The vendor key, e.g. ``"snowplow"`` (``SSTRACK_VISITOR_ID_FROM``).

    Returns:
        The id, lowercased, or None.
    """
    if not isinstance(source, str) or not isinstance(stitch, Mapping):
        return None
    key = source.strip().lower()
    field = _DEVICE_ID_FIELDS.get(key)
    vendor = stitch.get(key)
    if field is None or not isinstance(vendor, Mapping):
        return None
    value = vendor.get(field)
    if not isinstance(value, str):
        return None
    value = value.lower()
    if _CANONICAL_UUID.fullmatch(value) is None or value == _NIL_UUID:
        return None
    return value
