"""What a request leaves behind for the worker, and how it becomes an event.

The request path stores references (the ASGI header list, a handful of
WSGI environ values) in a :class:`RequestRecord` and nothing more. Decoding
headers, resolving the client behind proxies, parsing the query and
bounding every value happen here, in the background worker.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from .event import LIMITS, SCHEMA, clean, primary_language, query_pairs, rfc3339, uuid7
from .proxy import ProxyTrust, parse_forwarded
from .stitch import StitchOptions, stitch_from_header

__all__ = ["WANTED_HEADERS", "CaptureSettings", "RequestRecord", "asgi_headers", "is_secure"]

WANTED_HEADERS = frozenset({
    b"host", b"user-agent", b"referer", b"accept-language", b"cookie",
    b"forwarded", b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host",
})
"""The only request headers sstrack reads. The Cookie header is read for the
client-side ids it carries (``stitch``) and is never itself captured; nor
are Authorization and the like."""


@dataclass(frozen=True)
class CaptureSettings:
    """What the worker needs to turn a record into an event."""

    trust: ProxyTrust = field(default_factory=ProxyTrust)
    stitch: StitchOptions | None = field(default_factory=StitchOptions)
    """Which client-side cookies to read; ``None`` reads none."""

# Characters left as they are when a decoded path is percent-encoded again.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def _decode(value: bytes) -> str:
    return value.decode("utf-8", "replace")


def asgi_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """The wanted headers of an ASGI header list, decoded; repeats joined by commas."""
    found: dict[str, str] = {}
    for name, value in raw:
        if name in WANTED_HEADERS:
            key = name.decode("latin-1")
            text = _decode(value)
            if key in found:  # HTTP/2 sends one cookie header per cookie
                text = found[key] + ("; " if key == "cookie" else ",") + text
            found[key] = text
    return found


def _latin1_to_text(value: str) -> str:
    """Undo PEP 3333's latin-1 decoding of header and path bytes."""
    return value.encode("latin-1", "replace").decode("utf-8", "replace")


def is_secure(scheme: str, peer: str | None, headers: dict[str, str], trust: ProxyTrust) -> bool:
    """Whether the client used HTTPS, believing forwarding headers only from trusted proxies."""
    if trust.enabled:
        forwarded = parse_forwarded(headers.get("forwarded"), headers.get("x-forwarded-for"),
                                    headers.get("x-forwarded-proto"),
                                    headers.get("x-forwarded-host"))
        scheme = trust.resolve(peer, scheme, None, forwarded)[1]
    return scheme in ("https", "wss")


class RequestRecord:
    """The raw capture of one request, built on the request path.

    ``headers`` is either an ASGI header list (decoded later) or, from
    WSGI, a dict of the wanted headers with latin-1 values; ``peer`` is the
    ASGI ``client`` tuple or the WSGI ``REMOTE_ADDR``. Framework adapters
    may set ``route`` and ``user_id`` while the request runs, and ``failed``
    when the framework turned an exception into its own error response.
    """

    __slots__ = (
        "_context", "consented", "duration", "failed", "finished", "headers", "method",
        "outcome", "path", "peer", "pending", "query_string", "raw_path", "response_bytes",
        "route", "scheme", "session_id", "session_index", "started", "status", "user_id",
        "visitor_id",
    )

    def __init__(self, started: float, method: str, scheme: str, path: str,
                 raw_path: bytes | None, query_string: str | bytes, headers: Any, peer: Any,
                 visitor_id: str | None, session_id: str | None,
                 session_index: int | None) -> None:
        self.started = started
        self.method = method
        self.scheme = scheme
        self.path = path
        self.raw_path = raw_path
        self.query_string = query_string
        self.headers = headers
        self.peer = peer
        self.visitor_id = visitor_id
        self.session_id = session_id
        self.session_index = session_index
        self.status = 0
        self.response_bytes = 0
        self.duration = 0.0
        self.outcome = "completed"
        self.failed = False
        self.consented = True
        self.finished = False
        # Custom events of this request wait here until it finishes, so that
        # they see the route and user the framework reports at the end.
        self.pending: list[Any] = []
        self.user_id: str | None = None
        self.route: str | None = None
        self._context: dict[str, Any] | None = None

    def context(self, settings: CaptureSettings) -> dict[str, Any]:
        """The fields every event of this request shares, computed once (in the worker)."""
        if self._context is None:
            self._context = self._build_context(settings)
        return self._context

    def _build_context(self, settings: CaptureSettings) -> dict[str, Any]:
        trust = settings.trust
        headers = self.headers
        if isinstance(headers, list):
            headers = asgi_headers(headers)
            path = self.path
        else:
            headers = {k: _latin1_to_text(v) for k, v in headers.items()}
            path = _latin1_to_text(self.path)
        peer = self.peer
        if peer is not None and not isinstance(peer, str):  # ASGI: (host, port)
            peer = peer[0]
        query_string = self.query_string
        if isinstance(query_string, bytes):
            query_string = query_string.decode("latin-1")
        ip, scheme, host = peer, self.scheme, headers.get("host")
        if trust.enabled:
            forwarded = parse_forwarded(headers.get("forwarded"), headers.get("x-forwarded-for"),
                                        headers.get("x-forwarded-proto"),
                                        headers.get("x-forwarded-host"))
            ip, scheme, host = trust.resolve(ip, scheme, host, forwarded)
        host = clean(host, LIMITS["host"])
        raw_path = (self.raw_path.decode("latin-1") if self.raw_path
                    else quote(path.encode("utf-8", "replace"), safe=_PATH_SAFE))
        url = f"{scheme}://{host or ''}{raw_path}"
        if query_string:
            url += "?" + query_string
        return {
            "visitor_id": self.visitor_id,
            "session_id": self.session_id,
            "session_index": self.session_index,
            "user_id": None,
            "method": clean(self.method, 32),
            "scheme": scheme,
            "host": host,
            "path": clean(path, LIMITS["path"]),
            "route": None,
            "query": query_pairs(query_string),
            "url": clean(url, LIMITS["url"]),
            "referrer": clean(headers.get("referer"), LIMITS["referrer"]),
            "user_agent": clean(headers.get("user-agent"), LIMITS["user_agent"]),
            "language": primary_language(headers.get("accept-language")),
            "ip": ip,
            "stitch": _stitch(headers.get("cookie") if self.consented else None,
                              settings.stitch, self.started),
        }

    def to_event(self, settings: CaptureSettings) -> dict[str, Any]:
        """Build the request's own event (in the worker)."""
        event: dict[str, Any] = {"schema": SCHEMA, "event_id": uuid7(self.started),
                                 "event": "request", "timestamp": rfc3339(self.started)}
        event.update(self.context(settings))
        event["user_id"] = self.user_id
        event["route"] = clean(self.route, LIMITS["path"])
        event["status"] = self.status or None
        event["response_bytes"] = self.response_bytes
        event["duration_ms"] = round(self.duration * 1000, 3)
        event["outcome"] = "error" if self.failed else self.outcome
        event["stitch"] = event.pop("stitch")  # keep the documented field order
        event["properties"] = {}
        return event


def _stitch(cookie: str | None, options: StitchOptions | None,
            now: float) -> dict[str, dict[str, Any]]:
    if not cookie or options is None:
        return {}
    return stitch_from_header(cookie, options, now=now)
