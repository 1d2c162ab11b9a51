"""One JSON line per event on standard output, for containers that ship logs."""

from __future__ import annotations

import sys

from .base import Batch

__all__ = ["StdoutSink"]


class StdoutSink:
    """Writes each batch to ``sys.stdout`` as JSON lines."""

    def __init__(self) -> None:
        self.name = "stdout:"

    def open(self) -> None:
        """Nothing to open."""

    def write(self, batch: Batch) -> None:
        """Write the batch's lines and flush, so log shippers see them promptly."""
        out = sys.stdout
        data = b"\n".join(batch.lines) + b"\n"
        buffer = getattr(out, "buffer", None)
        if buffer is not None:
            out.flush()
            buffer.write(data)
            buffer.flush()
        else:  # replaced by a text-only stream (pytest's capsys, some servers)
            out.write(data.decode("utf-8"))
            out.flush()

    def flush(self, timeout: float) -> None:
        """Writes are flushed as they happen."""

    def close(self, timeout: float) -> None:
        """Standard output is not ours to close."""
