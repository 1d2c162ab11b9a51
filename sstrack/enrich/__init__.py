"""Background enrichment of tracked requests: user agent, bots, geolocation.

Nothing here runs on the request path; the worker calls these functions, each of
which caches its answers. Heavy and optional libraries (ua-parser's engine, the
crawler list, geoip2) are imported on first use, not when this package is imported.
"""

from __future__ import annotations

from sstrack.enrich.bots import BotDetector, is_bot
from sstrack.enrich.geo import GEO_FIELDS, GeoLookup
from sstrack.enrich.useragent import (
    DEVICE_TYPES,
    USER_AGENT_FIELDS,
    UserAgentParser,
    parse_user_agent,
)

__all__ = [
    "DEVICE_TYPES",
    "GEO_FIELDS",
    "USER_AGENT_FIELDS",
    "BotDetector",
    "GeoLookup",
    "UserAgentParser",
    "is_bot",
    "parse_user_agent",
]
