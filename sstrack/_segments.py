"""Spool segment files: their names, their owners' liveness, and raw file I/O.

A segment is ``<host>_<pid>_<start>_<seq>.jsonl``. ``<start>`` is the
owner's start time (Linux ``/proc/<pid>/stat``), so a recycled PID (PID 1
after every container restart) is not taken for the process that wrote it.
This process also keeps a registry of the segments its live :class:`Spool`
objects hold; its other segments (left by a Spool that was closed, e.g.
before ``configure()`` ran again) are claimable like a dead process's.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import re
import socket
import threading
from typing import NamedTuple

__all__ = [
    "SUFFIX", "SegmentName", "claimable", "fdatasync", "fsync_directory", "hold", "host",
    "new_name", "owner_alive", "parse_segment_name", "pread", "process_start", "release",
    "sink_directory", "unlink", "write_all",
]

SUFFIX = ".jsonl"

_held: set[str] = set()
_held_lock = threading.Lock()
_seq = itertools.count(1)  # per process, so two Spools never pick the same name


def _reset_after_fork() -> None:
    global _held_lock
    _held_lock = threading.Lock()  # another thread may have held it at fork()
    _held.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def host() -> str:
    """This host's short name, safe inside a segment name."""
    return re.sub(r"[^A-Za-z0-9-]+", "-", socket.gethostname().split(".", 1)[0]) or "host"


def sink_directory(root: str, sink_name: str) -> str:
    """The spool directory of a sink: a readable slug of its name plus a hash of it."""
    readable = re.sub(r"[^A-Za-z0-9.-]+", "_", sink_name).strip("_")[:48]
    digest = hashlib.sha256(sink_name.encode("utf-8", "replace")).hexdigest()[:10]
    return os.path.join(root, f"{readable}-{digest}")


def process_start(pid: int) -> str:
    """The start time of ``pid`` in clock ticks since boot, or ``"0"`` where unknown."""
    state, start = _stat(pid)
    return start if state is not None else "0"


def _stat(pid: int) -> tuple[str | None, str]:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            text = handle.read().decode("ascii", "replace")
    except OSError:
        return None, "0"
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    fields = text[text.rfind(")") + 2:].split()
    return (fields[0], fields[19]) if len(fields) > 19 else (None, "0")


def owner_alive(pid: int, start: str) -> bool:
    """Whether the process that wrote a segment (``pid`` started at ``start``) still runs."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, belongs to another user
    state, now_start = _stat(pid)
    if state is None:
        return True  # no /proc: the PID check is all there is
    return state not in ("Z", "X") and (start == "0" or now_start == start)


class SegmentName(NamedTuple):
    """The parts of a segment file name."""

    host: str
    pid: int
    start: str
    seq: int


def parse_segment_name(name: str) -> SegmentName | None:
    """``host_pid_start_seq.jsonl`` → its parts, or ``None`` for anything else."""
    if not name.endswith(SUFFIX):
        return None
    parts = name[: -len(SUFFIX)].rsplit("_", 3)
    if len(parts) != 4 or not all(p.isdigit() for p in parts[1:]):
        return None
    return SegmentName(parts[0], int(parts[1]), parts[2], int(parts[3]))


def new_name(prefix: str) -> str:
    """A segment name no other Spool of this process uses: ``prefix`` + sequence."""
    return f"{prefix}{next(_seq):08d}{SUFFIX}"


def claimable(directory: str, name: str, prefix: str) -> bool:
    """Whether a segment of this host may be taken over: its writer is gone.

    ``prefix`` is this process's; its own segments are claimable when no
    live Spool of the process holds them.
    """
    parts = parse_segment_name(name)
    if parts is None or parts.host != host():
        return False
    if name.startswith(prefix):
        with _held_lock:
            return os.path.join(directory, name) not in _held
    return not owner_alive(parts.pid, parts.start)


def hold(path: str) -> None:
    """Register a segment as held by a live Spool of this process."""
    with _held_lock:
        _held.add(path)


def release(path: str) -> None:
    """Forget a segment held by this process (it may stay on disk)."""
    with _held_lock:
        _held.discard(path)


def unlink(path: str) -> None:
    """Delete a segment and forget it."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    release(path)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def pread(path: str, offset: int, size: int) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.pread(fd, size, offset)
    finally:
        os.close(fd)


def fdatasync(fd: int) -> None:
    # fdatasync skips the inode's timestamps: enough to read the data back after a crash.
    getattr(os, "fdatasync", os.fsync)(fd)


def fsync_directory(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory
    finally:
        os.close(fd)
