"""Who made a request, as far as consent allows: the one decision every adapter shares."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from .identity import Identity, resolve_identity

if TYPE_CHECKING:
    from .runtime import Tracker

__all__ = ["COOKIELESS", "admit"]

COOKIELESS = Identity(None, None, None, [])
"""No consent for cookies: no cookie is set, and the worker derives a daily visitor id."""


def admit(tracker: Tracker, cookie: str | None, gpc: str | None, dnt: str | None,
          headers: Callable[[], Mapping[str, str]], started: float) -> Identity | None:
    """The request's identity and the cookies to set, or ``None`` if it must not be tracked.

    Args:
        tracker: the configured tracker.
        cookie: the Cookie header.
        gpc: the ``Sec-GPC`` header; ``dnt``: the ``DNT`` header.
        headers: builds every request header by lower-case name, for a consent
            hook (called only when one is configured).
        started: when the request arrived, in epoch seconds.
    """
    pipeline = tracker.pipeline
    if (gpc is None and pipeline.gpc_only) or pipeline.consented(cookie, gpc, dnt, headers):
        return resolve_identity(cookie, int(started), tracker.policy, tracker.visitor_eq,
                                tracker.session_eq, tracker.adopt)
    return None if pipeline.skip_without_consent else COOKIELESS
