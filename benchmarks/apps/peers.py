"""Settings shared by the benchmark apps, and a count of what each tracker captured.

Every peer is pointed at a closed port on this machine (127.0.0.1:9, the
discard port, where nothing listens): its sends fail at once with
ECONNREFUSED and no packet leaves the host. Each peer still captures every
request, so the comparison is honest; to prove it, each peer is given a
hook it calls once per captured request (``count_capture``), and every app,
bare included, answers ``GET /_captured`` with the total so far, which
``http_bench.py`` compares with the number of requests it sent.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = [
    "APITALLY_TOKEN",
    "CAPTURED_PATH",
    "CLOSED_URL",
    "HELLO",
    "MOESIF_APPLICATION_ID",
    "SENTRY_DSN",
    "captured",
    "count_capture",
    "count_with",
]

HELLO = "Hello, world!"
CAPTURED_PATH = "/_captured"
CLOSED_URL = "http://127.0.0.1:9"
SENTRY_DSN = "http://public@127.0.0.1:9/1"
APITALLY_TOKEN = "apt_" + "0" * 24  # apitally checks only the format: apt_ and 24 characters
MOESIF_APPLICATION_ID = "benchmark-application-id"  # any non-empty id; it is never validated

_lock = threading.Lock()  # gthread workers capture from several threads
_count = 0
_source: Callable[[], int] | None = None


def count_capture(*args: Any, **kwargs: Any) -> None:
    """Count one request a peer captured (a hook signature-compatible with any callback)."""
    global _count
    with _lock:
        _count += 1


def count_with(source: Callable[[], int]) -> None:
    """Take the count from ``source`` instead (sstrack reports its own)."""
    global _source
    _source = source


def captured() -> int:
    """Requests captured so far, or -1 for an app without tracking."""
    if _source is not None:
        return _source()
    return _count if _count else -1
