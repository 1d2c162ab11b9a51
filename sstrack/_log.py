"""Logging that cannot flood: at most one record per problem per interval."""

from __future__ import annotations

import logging
import threading
import time

__all__ = ["logger", "warn_limited"]

logger = logging.getLogger("sstrack")

_INTERVAL = 60.0
_last: dict[str, float] = {}
_suppressed: dict[str, int] = {}
_lock = threading.Lock()


def warn_limited(key: str, message: str, *args: object, exc_info: bool = False) -> None:
    """Log ``message`` at WARNING unless ``key`` was logged in the last minute.

    A failing sink or a bug hit on every request would otherwise write a
    line per event; instead the next record says how many were suppressed.
    """
    now = time.monotonic()
    with _lock:
        if now - _last.get(key, -_INTERVAL) < _INTERVAL:
            _suppressed[key] = _suppressed.get(key, 0) + 1
            return
        _last[key] = now
        skipped = _suppressed.pop(key, 0)
    if skipped:
        message += " (%d similar messages suppressed)"
        args = (*args, skipped)
    logger.warning(message, *args, exc_info=exc_info)
