"""Shared fixtures: a tracker that writes to memory, and clean global state."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import sstrack
from sstrack import _log, runtime
from sstrack.sinks import memory


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts unconfigured, with no SSTRACK_* variables from outside."""
    import os

    for key in list(os.environ):
        if key.startswith("SSTRACK_"):
            monkeypatch.delenv(key)
    # Warnings are rate-limited per process; each test must see its own.
    _log._last.clear()
    _log._suppressed.clear()
    yield
    tracker = runtime._current
    if tracker is not None:
        tracker.dispatcher.shutdown(2.0)
    runtime._current = None
    memory.clear()


@pytest.fixture
def tracked() -> Callable[..., Callable[[], list[dict[str, Any]]]]:
    """Configure sstrack with a memory sink; returns a function giving the events so far."""

    def setup(**options: Any) -> Callable[[], list[dict[str, Any]]]:
        options.setdefault("sinks", "memory:")
        options.setdefault("flush_interval", 0.05)
        sstrack.configure(**options)

        def events() -> list[dict[str, Any]]:
            assert sstrack.flush(5.0)
            return memory.events()

        return events

    return setup
