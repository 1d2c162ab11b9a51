"""Consent: whether a request may be tracked with a cookie, and the cookieless id if not.

The decision reads only what the request carries (the ``Sec-GPC`` and
``DNT`` headers, a consent cookie, an optional site hook), so it is cheap
enough for the request path. Without consent sstrack sets no cookie and
either records the request under a cookieless id or skips it.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = [
    "DEFAULT_GRANTED_VALUES",
    "MISSING_CONSENT_MODES",
    "ConsentHook",
    "ConsentPolicy",
    "consent_granted",
    "cookieless_visitor_id",
]

MISSING_CONSENT_MODES = ("cookieless", "skip")
"""What happens to a request without consent: a cookieless record, or nothing at all."""

DEFAULT_GRANTED_VALUES = frozenset({"1", "true", "yes", "granted", "accepted", "allow", "all"})
"""Consent-cookie values, compared case-insensitively, that mean consent was given."""

ConsentHook = Callable[[Mapping[str, str]], bool | None]
"""A site's decision from the request headers (lower-case names): True, False, or None to defer."""

_MIN_SALT = 16  # bytes; a shorter key would make the id cheap to brute-force


@dataclass(frozen=True)
class ConsentPolicy:
    """Which signals decide consent, and what to do without it.

    The decision, first match wins (see :func:`consent_granted`):

    1. ``Sec-GPC: 1`` denies, when ``honour_gpc`` (default on).
    2. ``DNT: 1`` denies, when ``honour_dnt`` (default off: DNT is deprecated
       and many browsers sent it by default, so it says little about intent).
    3. ``hook``, when set, decides if it returns True or False.
    4. With ``cookie_name`` set, consent is granted only when that cookie
       holds one of ``granted_values``; absent or any other value denies.
    5. With no consent cookie configured, consent is assumed. Sites under
       GDPR/ePrivacy rules should configure the cookie their consent banner
       sets, so that nobody gets a visitor cookie before opting in.

    Attributes:
        honour_gpc: Treat ``Sec-GPC: 1`` as a refusal.
        honour_dnt: Treat ``DNT: 1`` as a refusal.
        cookie_name: The consent cookie to read, or None.
        granted_values: Values of that cookie meaning "granted".
        hook: Optional site callback, for consent managers whose cookie needs parsing.
        missing_consent: ``cookieless`` (default) records the request under a
            daily cookieless id, with no cookie, stitch id or user id;
            ``skip`` records nothing.
    """

    honour_gpc: bool = True
    honour_dnt: bool = False
    cookie_name: str | None = None
    granted_values: frozenset[str] = DEFAULT_GRANTED_VALUES
    hook: ConsentHook | None = None
    missing_consent: str = "cookieless"

    def __post_init__(self) -> None:
        if self.missing_consent not in MISSING_CONSENT_MODES:
            raise ValueError(f"invalid missing-consent mode {self.missing_consent!r}; "
                             f"expected one of: {', '.join(MISSING_CONSENT_MODES)}")
        if isinstance(self.granted_values, str):
            raise ValueError("granted_values must be a set of values, not one string")
        granted = frozenset(v.strip().lower() for v in self.granted_values)
        if not granted or "" in granted:
            raise ValueError("granted_values must hold non-empty values")
        object.__setattr__(self, "granted_values", granted)
        if self.cookie_name is not None and not self.cookie_name.strip():
            raise ValueError("cookie_name must be a cookie name or None")


def consent_granted(policy: ConsentPolicy, *, gpc: str | None = None, dnt: str | None = None,
                    cookie: str | None = None,
                    headers: Mapping[str, str] | None = None) -> bool:
    """Decide whether a request has consent to be tracked with a cookie.

    Args:
        policy: The site's consent settings.
        gpc: The ``Sec-GPC`` header value, if any.
        dnt: The ``DNT`` header value, if any.
        cookie: The value of ``policy.cookie_name`` in the request, if any.
        headers: Request headers with lower-case names, passed to
            ``policy.hook``; only needed when a hook is set.

    Returns:
        True when tracking with a cookie is allowed. A hook that raises
        counts as a refusal: failing closed is the privacy-safe choice.
    """
    if policy.honour_gpc and gpc is not None and gpc.strip() == "1":
        return False
    if policy.honour_dnt and dnt is not None and dnt.strip() == "1":
        return False
    if policy.hook is not None:
        try:
            verdict = policy.hook(headers if headers is not None else {})
        except Exception:
            return False
        if isinstance(verdict, bool):  # anything else defers, like None
            return verdict
    if policy.cookie_name is not None:
        return cookie is not None and cookie.strip().lower() in policy.granted_values
    return True


def cookieless_visitor_id(*, salt: bytes, site: str, ip: str, user_agent: str) -> str:
    """A visitor id for requests without consent, shaped like a UUID.

    ``HMAC-SHA256(salt, site, ip, user_agent)`` cut to 128 bits, with the
    RFC 9562 version set to 8 (custom) and the variant to 10, formatted as
    ``xxxxxxxx-xxxx-8xxx-yxxx-xxxxxxxxxxxx`` so it fits the column cookie
    visitor ids use. With a daily salt it is stable for one visitor (same
    IP and user agent) within a UTC day, unrelated the next day, and cannot
    be reversed or linked across days once the salt is deleted.

    Args:
        salt: The current daily salt (at least 16 bytes).
        site: Identifies the site (e.g. its host), so ids differ between sites.
        ip: The raw client IP, before anonymisation ("" when unknown).
        user_agent: The ``User-Agent`` header ("" when absent).

    Raises:
        ValueError: if ``salt`` is shorter than 16 bytes.
    """
    if len(salt) < _MIN_SALT:
        raise ValueError(f"salt must be at least {_MIN_SALT} bytes")
    # Length-prefixed fields, so ("ab", "c") and ("a", "bc") never collide.
    message = b"".join(
        len(part).to_bytes(4, "big") + part
        for part in (s.encode("utf-8", "surrogatepass") for s in (site, ip, user_agent))
    )
    value = int.from_bytes(hmac.digest(salt, message, "sha256")[:16], "big")
    value = (value & ~(0xF << 76)) | (0x8 << 76)  # version 8: custom
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 9562 variant
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
