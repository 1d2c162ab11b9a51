"""The disk spool: append-only JSON-lines segments, one set per sink and per process.

Layout (see ``docs/delivery.md``)::

    <spool_dir>/<sink-slug>/SINK                                the sink's redacted name
    <spool_dir>/<sink-slug>/<host>_<pid>_<start>_<seq>.jsonl     one segment

Only the owner appends to or reads its segments; another process on the
same host claims a segment once its owner is dead (see :mod:`._segments`)
by renaming it to its own name, which is atomic, so exactly one claimer
wins. Each append is one ``write()`` of whole lines; a crash can leave at
most a torn last line, which readers skip.

A :class:`Spool` is not thread-safe; its user serialises calls.
"""

from __future__ import annotations

import collections
import contextlib
import os
import time
from collections.abc import Sequence
from typing import NamedTuple

from . import _segments as seg
from ._log import logger
from ._segments import owner_alive, parse_segment_name, process_start, sink_directory

__all__ = ["Chunk", "Spool", "owner_alive", "parse_segment_name", "process_start",
           "sink_directory"]

_READ_BYTES = 1 << 20
_SEGMENT_MAX = 16 << 20


class Chunk(NamedTuple):
    """Lines read from one segment, ``start``..``end`` bytes; commit it once delivered."""

    segment: str
    start: int
    end: int
    lines: list[bytes]


class _Segment:
    __slots__ = ("offset", "path", "size")

    def __init__(self, path: str, size: int) -> None:
        self.path = path
        self.size = size  # bytes of whole lines in the file
        self.offset = 0  # bytes already delivered (committed)


class Spool:
    """One sink's spool in this process.

    Args:
        root: ``SSTRACK_SPOOL_DIR``.
        sink_name: the sink's redacted name; it picks the subdirectory.
        max_bytes: cap on this process's segments; past it the oldest is dropped.
        fsync: ``"never"``, ``"always"`` or an interval in milliseconds.
    """

    def __init__(self, root: str, sink_name: str, *, max_bytes: int = 1 << 30,
                 fsync: str = "1000") -> None:
        self.directory = sink_directory(root, sink_name)
        self.sink_name = sink_name
        self.max_bytes = max_bytes
        self.segment_bytes = max(1024, min(max_bytes // 8, _SEGMENT_MAX))
        self.always = fsync == "always"
        self.interval = None if fsync in ("never", "always") else int(fsync) / 1000
        self.dropped: collections.Counter[str] = collections.Counter()
        self.fsyncs = 0
        pid = os.getpid()
        self._prefix = f"{seg.host()}_{pid}_{process_start(pid)}_"
        self._segments: collections.deque[_Segment] = collections.deque()
        self._fd: int | None = None  # the writer: appends go to the last segment
        self._dirty_since: float | None = None

    # -- set-up ------------------------------------------------------------------

    def open(self) -> None:
        """Create the directory, record the sink's name, and claim dead processes' segments."""
        os.makedirs(self.directory, exist_ok=True)
        label = os.path.join(self.directory, "SINK")
        if not os.path.exists(label):
            temporary = f"{label}.{os.getpid()}"
            with open(temporary, "w", encoding="utf-8") as handle:
                handle.write(self.sink_name + "\n")
            os.replace(temporary, label)
        self.claim_orphans()

    def claim_orphans(self) -> int:
        """Take over segments whose writer died (oldest first); returns how many."""
        found = []
        for name in os.listdir(self.directory):
            parts = parse_segment_name(name)
            if parts is not None and seg.claimable(self.directory, name, self._prefix):
                found.append((int(parts.start), parts.pid, parts.seq, name))
        claimed = 0
        for *_, name in sorted(found):
            target = self._next_path()
            try:
                os.rename(os.path.join(self.directory, name), target)
            except FileNotFoundError:  # another process claimed it first
                seg.release(target)
                continue
            self._close_writer()  # our later appends go after the claimed events
            size = os.path.getsize(target)
            if size:
                self._segments.append(_Segment(target, size))
                claimed += 1
            else:
                seg.unlink(target)
        if claimed:
            logger.info("sstrack spool %s: claimed %d segment(s) of dead processes",
                        self.directory, claimed)
        return claimed

    def _next_path(self) -> str:
        path = os.path.join(self.directory, seg.new_name(self._prefix))
        seg.hold(path)
        return path

    # -- writing -----------------------------------------------------------------

    def segment_paths(self) -> list[str]:
        """This spool's segments, oldest first."""
        return [segment.path for segment in self._segments]

    @property
    def disk_bytes(self) -> int:
        """Bytes this process's segments hold on disk."""
        return sum(segment.size for segment in self._segments)

    @property
    def backlog(self) -> int:
        """Bytes spooled and not yet delivered."""
        return sum(segment.size - segment.offset for segment in self._segments)

    def count_backlog(self) -> int:
        """Events spooled and not yet delivered (reads the segments)."""
        return sum(self._count_unread(segment) for segment in self._segments)

    def append(self, lines: Sequence[bytes]) -> int:
        """Append whole lines in one ``write()``; returns how many were kept (the cap may drop).

        Raises:
            OSError: the write failed; nothing was appended.
        """
        data = b"\n".join(lines) + b"\n"
        kept = len(lines)
        if len(data) > self.max_bytes:  # a batch larger than the whole cap: keep its newest
            kept, size = 0, 0
            while kept < len(lines) and size + len(lines[-kept - 1]) + 1 <= self.max_bytes:
                size += len(lines[-kept - 1]) + 1
                kept += 1
            self.dropped["spool_full"] += len(lines) - kept
            if not kept:
                return 0
            data = b"\n".join(lines[-kept:]) + b"\n"
        self._make_room(len(data))
        segment, fd = self._writer(len(data))
        try:
            seg.write_all(fd, data)
        except OSError:
            # Cut back to the last whole line so the next append starts clean.
            try:
                os.ftruncate(fd, segment.size)
            except OSError:
                self._close_writer()
            raise
        segment.size += len(data)
        self._after_write(fd)
        return kept

    def _writer(self, incoming: int) -> tuple[_Segment, int]:
        if self._fd is not None and self._segments[-1].size + incoming > self.segment_bytes:
            self._close_writer()
        if self._fd is None:
            path = self._next_path()
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._segments.append(_Segment(path, 0))
            if self.always:  # the new file's directory entry must survive a crash too
                seg.fsync_directory(self.directory)
        return self._segments[-1], self._fd

    def _after_write(self, fd: int) -> None:
        if self.always:
            seg.fdatasync(fd)
            self.fsyncs += 1
        elif self.interval is not None:
            now = time.monotonic()
            if self._dirty_since is None:
                self._dirty_since = now
            elif now - self._dirty_since >= self.interval:
                self.sync()

    def _make_room(self, incoming: int) -> None:
        """Drop the oldest segments until ``incoming`` bytes fit under the cap."""
        while self._segments and self.disk_bytes + incoming > self.max_bytes:
            segment = self._segments.popleft()
            if not self._segments:
                self._close_writer()
            lost = self._count_unread(segment)
            self.dropped["spool_full"] += lost
            seg.unlink(segment.path)
            logger.warning("sstrack spool %s over its cap of %d bytes: dropped the oldest "
                           "segment (%d events)", self.directory, self.max_bytes, lost)

    def _count_unread(self, segment: _Segment) -> int:
        try:
            with open(segment.path, "rb") as handle:
                handle.seek(segment.offset)
                return handle.read(segment.size - segment.offset).count(b"\n")
        except OSError:
            return 0

    def next_sync_at(self) -> float | None:
        """When buffered appends are due to be forced to disk (interval policy), if any."""
        if self._dirty_since is None or self.interval is None:
            return None
        return self._dirty_since + self.interval

    def sync(self) -> None:
        """Force appended data to disk now (unless the policy is ``never``)."""
        if self._fd is not None and (self.always or self.interval is not None):
            seg.fdatasync(self._fd)
            self.fsyncs += 1
        self._dirty_since = None

    def _close_writer(self) -> None:
        if self._fd is not None:
            if self._dirty_since is not None:
                self.sync()
            os.close(self._fd)
            self._fd = None

    def close(self) -> None:
        """Sync and close the writer; the segments stay on disk for the next owner."""
        self._close_writer()
        for segment in self._segments:
            seg.release(segment.path)
        self._segments.clear()

    def abandon(self) -> None:
        """In a forked child: close the inherited file without syncing or touching segments."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    # -- reading -----------------------------------------------------------------

    def read(self, max_lines: int) -> Chunk | None:
        """The oldest undelivered lines (at most ``max_lines``), or ``None`` when empty.

        Reading again before :meth:`commit` returns the same lines. A torn last
        line of a dead process's segment is skipped and counted (``torn``).
        """
        while self._segments:
            segment = self._segments[0]
            if segment.offset >= segment.size:
                if self._fd is not None and len(self._segments) == 1:
                    return None  # our writer, all delivered; keep it for the next append
                self._remove_head()
                continue
            data = seg.pread(segment.path, segment.offset,
                          min(segment.size - segment.offset, _READ_BYTES))
            end = data.rfind(b"\n") + 1
            if end == 0 and segment.offset + len(data) < segment.size:
                data = seg.pread(segment.path, segment.offset, segment.size - segment.offset)
                end = data.rfind(b"\n") + 1  # one line longer than a read
            if end == 0:  # only a torn tail is left
                self.dropped["torn"] += 1
                segment.offset = segment.size
                continue
            lines = data[:end].split(b"\n")[:-1]
            if len(lines) > max_lines:
                lines = lines[:max_lines]
                end = sum(len(line) + 1 for line in lines)
            return Chunk(segment.path, segment.offset, segment.offset + end,
                         [line for line in lines if line])
        return None

    def commit(self, chunk: Chunk) -> None:
        """Mark a chunk delivered; a segment is deleted once all of it is."""
        if not self._segments or self._segments[0].path != chunk.segment:
            return  # dropped by the cap meanwhile
        segment = self._segments[0]
        segment.offset = max(segment.offset, chunk.end)
        if segment.offset >= segment.size:
            if len(self._segments) == 1:
                self._close_writer()
            self._remove_head()

    def _remove_head(self) -> None:
        seg.unlink(self._segments.popleft().path)
