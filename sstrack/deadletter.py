"""Dead letters: events a sink permanently rejected, kept with the reason.

One JSON-lines file per process, ``<dead_letter_dir>/<host>-<pid>.jsonl``,
created when the first event is rejected. Each line is::

    {"reason": "MSG_SIZE_TOO_LARGE: Broker: Message size too large",
     "sink": "kafka://broker:9092/events", "at": "2026-11-22T07:06:46.059Z",
     "event": {...the event exactly as the sink was given it...}}

The event is embedded as its original encoded bytes, not re-encoded, so it
is byte-for-byte what the sink refused.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Sequence

import orjson

from .event import rfc3339

__all__ = ["DeadLetters"]


class DeadLetters:
    """Appends rejected events to this process's dead-letter file; shared by all sinks."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._pid: int | None = None

    def path(self) -> str:
        """This process's dead-letter file."""
        host = socket.gethostname().split(".", 1)[0] or "host"
        return os.path.join(self.directory, f"{host}-{os.getpid()}.jsonl")

    def write(self, sink: str, rejected: Sequence[tuple[bytes, str]]) -> None:
        """Record ``(line, reason)`` pairs refused by ``sink`` in one ``write()``.

        Raises:
            OSError: the directory or file cannot be written.
        """
        if not rejected:
            return
        head = b'"sink":' + orjson.dumps(sink) + b',"at":' + orjson.dumps(rfc3339(time.time()))
        data = b"".join(b'{"reason":' + orjson.dumps(reason) + b"," + head + b',"event":'
                        + line + b"}\n" for line, reason in rejected)
        with self._lock:
            if self._fd is None or self._pid != os.getpid():
                os.makedirs(self.directory, exist_ok=True)
                self._fd = os.open(self.path(), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                self._pid = os.getpid()  # a forked child opens its own file
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]

    def close(self) -> None:
        """Close the file (if this process opened it)."""
        with self._lock:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = None
