"""The first-party visitor and session cookies, as pure functions on strings.

Two cookies, both set by the server and ``HttpOnly``:

``sst_id``
    The visitor id: a random version-4 UUID in canonical lowercase form,
    nothing else, so application code that reads the cookie gets the id.

``sst_ses``
    Session state, ``<session uuid>.<index>.<last seen>.<visitor refreshed>``
    (both times in epoch seconds). Like GA4's ``_ga_<container>`` cookie it
    lives as long as the visitor cookie, because the session index has to
    survive the gaps between sessions; inactivity is judged from ``last
    seen``. Keeping the refresh time here, not in ``sst_id``, is what lets
    us refresh the visitor cookie at most once a day without changing its
    value.

Nothing here allocates on the returning-visitor path beyond a few slices:
this runs once per request, before the app.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeGuard

__all__ = [
    "CookiePolicy",
    "Identity",
    "find_cookie",
    "is_valid_id",
    "new_id",
    "resolve_identity",
    "shared_cache_may_store",
]

# A cookie that was written less than this long ago is not rewritten just to
# slide the session's expiry: at most one Set-Cookie a minute per visitor.
SESSION_SLIDE_SECONDS = 60
VISITOR_REFRESH_SECONDS = 86_400

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_is_uuid = _UUID.fullmatch
_SAMESITE = {"lax": "Lax", "strict": "Strict", "none": "None"}
# RFC 6265 token characters, the only ones allowed in a cookie name.
_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def is_valid_id(value: str | None) -> TypeGuard[str]:
    """Whether ``value`` is an id sstrack would have issued (a canonical lowercase UUID)."""
    return value is not None and len(value) == 36 and _is_uuid(value) is not None


def new_id() -> str:
    """A random version-4 UUID string, faster than ``str(uuid.uuid4())``."""
    h = os.urandom(16).hex()
    variant = "89ab"[int(h[16], 16) & 3]
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}"


def find_cookie(header: str, name_eq: str) -> str | None:
    """The value of the first cookie called ``name_eq[:-1]`` in a Cookie header.

    ``name_eq`` is the cookie name with ``=`` appended (precomputed by the
    caller). Tolerant like browsers and Werkzeug: whitespace around pairs is
    ignored and a quoted value is unquoted. The first occurrence wins, as in
    the analytics trackers' own readers.
    """
    start = 0
    while True:
        i = header.find(name_eq, start)
        if i < 0:
            return None
        if i == 0 or header[i - 1] in "; \t":
            end = header.find(";", i)
            value = header[i + len(name_eq) : end if end >= 0 else len(header)].strip()
            if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
                value = value[1:-1]
            return value
        start = i + 1


@dataclass(frozen=True)
class CookiePolicy:
    """Names and attributes of the two cookies (validated by the config)."""

    visitor_name: str = "sst_id"
    session_name: str = "sst_ses"
    max_age: int = 63_072_000
    session_timeout: int = 1800
    domain: str | None = None
    always_secure: bool = False
    samesite: str = "Lax"

    def problems(self) -> list[str]:
        """What is wrong with these settings, as ``(option, message)`` text."""
        found = []
        for option, name in (("cookie_name", self.visitor_name),
                             ("session_cookie_name", self.session_name)):
            if not _COOKIE_NAME.fullmatch(name):
                found.append(f"{option}: {name!r} is not a valid cookie name "
                             "(letters, digits and !#$%&'*+-.^_`|~ only)")
        if self.visitor_name == self.session_name:
            found.append("session_cookie_name: must differ from cookie_name")
        if self.samesite.lower() not in _SAMESITE:
            found.append(f"cookie_samesite: {self.samesite!r} is not one of Lax, Strict, None")
        elif self.samesite.lower() == "none" and not self.always_secure:
            found.append("cookie_samesite: None requires cookie_secure=true (browsers reject "
                         "SameSite=None without Secure)")
        if self.domain is not None and not re.fullmatch(r"\.?[A-Za-z0-9.-]+", self.domain):
            found.append(f"cookie_domain: {self.domain!r} is not a domain name")
        if self.session_timeout >= self.max_age:
            found.append("session_timeout: must be shorter than cookie_max_age")
        return found

    def attributes(self, secure: bool) -> str:
        """The attribute suffix appended to every Set-Cookie value."""
        parts = [f"Max-Age={self.max_age}", "Path=/"]
        if self.domain:
            parts.append(f"Domain={self.domain}")
        if secure or self.always_secure:
            parts.append("Secure")
        parts += ["HttpOnly", f"SameSite={_SAMESITE[self.samesite.lower()]}"]
        return "; " + "; ".join(parts)


class Identity:
    """Who made a request, and which cookies must be (re)written.

    ``set_cookies`` is empty on the common path; otherwise it holds the
    cookie ``name=value`` pairs to send, without attributes (the caller adds
    them once it knows whether the request is secure).
    """

    __slots__ = ("session_id", "session_index", "set_cookies", "visitor_id")

    def __init__(self, visitor_id: str | None, session_id: str | None,
                 session_index: int | None, set_cookies: list[str]) -> None:
        self.visitor_id = visitor_id
        self.session_id = session_id
        self.session_index = session_index
        self.set_cookies = set_cookies


# <session uuid>.<index>.<last seen>.<visitor refreshed>; one regex validates and splits.
_SESSION = re.compile(r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
                      r"\.([1-9][0-9]{0,8})\.([0-9]{1,12})\.([0-9]{1,12})")


def _parse_session(value: str | None) -> tuple[str, int, int, int] | None:
    if not value or len(value) > 80:
        return None
    match = _SESSION.fullmatch(value)
    if match is None:
        return None
    session_id, index, seen, refreshed = match.groups()
    return session_id, int(index), int(seen), int(refreshed)


def resolve_identity(cookie_header: str | None, now: int, policy: CookiePolicy,
                     visitor_eq: str, session_eq: str,
                     adopt: Callable[[str], str | None] | None = None) -> Identity:
    """Decide visitor and session for a request from its Cookie header.

    A visitor id is reused only if it has the exact issued format; anything
    else (malformed, forged, oversized) is replaced, by the id ``adopt``
    finds in another cookie if given, else by a new random one. A session
    continues while its last activity is less than ``policy.session_timeout``
    ago; a stamp from the future (clock skew, forgery) is treated as stale.
    """
    visitor = session = None
    if cookie_header:
        visitor = find_cookie(cookie_header, visitor_eq)
        if visitor is not None and not is_valid_id(visitor):
            visitor = None
        if visitor is not None:
            session = _parse_session(find_cookie(cookie_header, session_eq))
    set_cookies: list[str] = []
    if visitor is None:
        adopted = adopt(cookie_header) if adopt is not None and cookie_header else None
        visitor = adopted if is_valid_id(adopted) else new_id()
        set_cookies.append(visitor_eq + visitor)
    if session is None:
        session_id, index, refreshed = new_id(), 1, now
        if not set_cookies:  # known visitor, lost session state: refresh both
            set_cookies.append(visitor_eq + visitor)
    else:
        session_id, index, seen, refreshed = session
        idle = now - seen
        if idle >= policy.session_timeout or idle < -SESSION_SLIDE_SECONDS:
            session_id, index = new_id(), index + 1
        elif idle < SESSION_SLIDE_SECONDS and now - refreshed < VISITOR_REFRESH_SECONDS:
            return Identity(visitor, session_id, index, set_cookies)
        if not 0 <= now - refreshed < VISITOR_REFRESH_SECONDS:
            refreshed = now
            set_cookies.append(visitor_eq + visitor)
    set_cookies.append(f"{session_eq}{session_id}.{index}.{now}.{refreshed}")
    return Identity(visitor, session_id, index, set_cookies)


def shared_cache_may_store(cache_control: str) -> bool:
    """Whether a response marked so may be kept by a shared cache (a CDN).

    Such a response must not carry a visitor's cookie, or the cache would
    hand one visitor's id to everyone who gets the cached copy.
    """
    value = cache_control.lower()
    return "public" in value or "s-maxage" in value
