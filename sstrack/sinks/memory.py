"""An in-process list of events, for unit tests and users' own test suites.

``memory:`` collects into the list named ``""``; ``memory:name`` into its own
list. Read them with :func:`events` and empty them with :func:`clear`.
"""

from __future__ import annotations

import threading
from typing import Any

from .base import Batch

__all__ = ["MemorySink", "clear", "events"]

_stores: dict[str, list[dict[str, Any]]] = {}
_lock = threading.Lock()


def events(name: str = "") -> list[dict[str, Any]]:
    """A copy of the events collected by ``memory:<name>`` in this process."""
    with _lock:
        return list(_stores.get(name, ()))


def clear(name: str | None = None) -> None:
    """Forget collected events (of one store, or of all with ``None``)."""
    with _lock:
        if name is None:
            _stores.clear()
        else:
            _stores.pop(name, None)


class MemorySink:
    """Appends events to a module-level list; never use it in production."""

    def __init__(self, store: str = "") -> None:
        self.store = store
        self.name = f"memory:{store}"

    def open(self) -> None:
        """Nothing to open."""

    def write(self, batch: Batch) -> None:
        """Keep the batch's event dicts."""
        with _lock:
            _stores.setdefault(self.store, []).extend(batch.events)

    def flush(self, timeout: float) -> None:
        """Nothing is buffered."""

    def close(self, timeout: float) -> None:
        """The events stay readable after close."""
