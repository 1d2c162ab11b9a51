"""Newline-delimited JSON files: the embedded default sink.

Layout: ``<directory>/YYYY/MM/DD/HH/<host>-<pid>.jsonl``, partitioned by the
hour of each event's timestamp. One file per process means several worker
processes can share a directory without interleaving lines, and the
Hive-style hourly folders load as-is with DuckDB's ``read_json`` or a
BigQuery load job (``newline_delimited_json``).
"""

from __future__ import annotations

import os
import socket
from typing import BinaryIO

from .base import Batch

__all__ = ["JsonlSink"]

_MAX_OPEN = 2  # the current hour, and the last one for late events


def check_directory(directory: str) -> str | None:
    """Create ``directory`` if needed; describe why it cannot be written, or ``None``."""
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        return f"cannot create directory {directory!r}: {exc.strerror or exc}"
    if not os.path.isdir(directory):
        return f"{directory!r} is not a directory"
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"directory {directory!r} is not writable by this process"
    return None


class JsonlSink:
    """Appends each batch to this process's file for the event's hour.

    Each batch is one ``write()`` on an unbuffered file, so after a crash
    at most the last line is torn, and readers (and ``sstrack replay``)
    skip a torn line.
    """

    def __init__(self, directory: str) -> None:
        if not directory:
            raise ValueError("jsonl: needs a directory, e.g. jsonl:./sstrack-events")
        problem = check_directory(directory)
        if problem:
            raise ValueError(problem)
        self.directory = os.path.abspath(directory)
        self.name = f"jsonl:{directory}"
        self._files: dict[str, BinaryIO] = {}
        self._basename = ""

    def open(self) -> None:
        """Name this process's files; they are opened per hour as events arrive."""
        host = socket.gethostname().split(".", 1)[0] or "host"
        self._basename = f"{host}-{os.getpid()}.jsonl"

    def _file(self, hour: str) -> BinaryIO:
        handle = self._files.get(hour)
        if handle is None:
            # hour is "YYYY-MM-DDTHH", the first 13 characters of a timestamp
            folder = os.path.join(self.directory, hour[:4], hour[5:7], hour[8:10], hour[11:13])
            os.makedirs(folder, exist_ok=True)
            handle = open(os.path.join(folder, self._basename), "ab", buffering=0)  # noqa: SIM115
            self._files[hour] = handle
            while len(self._files) > _MAX_OPEN:
                oldest = min(self._files)
                self._files.pop(oldest).close()
        return handle

    def write(self, batch: Batch) -> None:
        """Append the batch, one ``write()`` per hour it spans (almost always one)."""
        by_hour: dict[str, list[bytes]] = {}
        for event, line in zip(batch.events, batch.lines, strict=True):
            hour = str(event.get("timestamp", ""))[:13]
            if len(hour) != 13:
                hour = "0000-00-00T00"
            by_hour.setdefault(hour, []).append(line)
        for hour, lines in by_hour.items():
            lines.append(b"")
            self._file(hour).write(b"\n".join(lines))

    def flush(self, timeout: float) -> None:
        """Nothing is buffered in the process: writes go straight to the OS."""

    def close(self, timeout: float) -> None:
        """Close every open file."""
        for handle in self._files.values():
            handle.close()
        self._files.clear()
