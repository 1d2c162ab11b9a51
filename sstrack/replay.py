"""``sstrack replay``: deliver a spool directory by hand into the configured sinks.

Each configured sink's spool subdirectory is found by the sink's name; the
segments of processes that are no longer running are claimed (a running
process keeps its own and replays them itself), sent in order, and removed
once the sink confirms them. Events the sink rejects for good go to the
dead-letter file. What cannot be delivered before the deadline stays in
the spool for the next attempt. It is safe to run while the app runs.
"""

from __future__ import annotations

import os
import time
from typing import NamedTuple

from ._lane_io import LaneIO
from .config import Config
from .deadletter import DeadLetters
from .sinks import Sink, build_sink
from .spool import Spool, parse_segment_name, sink_directory

__all__ = ["ReplayResult", "replay_directory", "replay_sink"]


class ReplayResult(NamedTuple):
    """What ``sstrack replay`` did for one sink."""

    sink: str
    replayed: int
    dead_lettered: int
    left: int
    """Events still in the spool (not delivered before the deadline)."""
    running: int
    """Segments left alone because the process that owns them still runs."""
    error: str | None


def replay_directory(config: Config, root: str,
                     timeout: float) -> tuple[list[ReplayResult], list[str]]:
    """Replay ``root`` into every configured sink.

    Returns the results, and the names of spool subdirectories holding
    events for a sink that is not configured (they are left untouched).
    """
    deadline = time.monotonic() + timeout
    sinks = [build_sink(url, config.environ) for url in config.sinks]
    ours = {os.path.basename(sink_directory(root, sink.name)) for sink in sinks}
    dead_letters = DeadLetters(config.dead_letter_dir)
    try:
        results = [replay_sink(sink, config, root, dead_letters, deadline) for sink in sinks
                   if os.path.isdir(sink_directory(root, sink.name))]
    finally:
        dead_letters.close()
    strangers = []
    for entry in sorted(os.listdir(root)):
        path = os.path.join(root, entry)
        if entry not in ours and os.path.isdir(path) and _segments(path):
            strangers.append(f"{entry} ({_label(path)})")
    return results, strangers


def replay_sink(sink: Sink, config: Config, root: str, dead_letters: DeadLetters,
                deadline: float) -> ReplayResult:
    """Claim the dead processes' segments of ``sink``'s spool and send them, oldest first."""
    spool = Spool(root, sink.name, max_bytes=config.spool_max_bytes, fsync=config.spool_fsync)
    io = LaneIO(sink, round_events=max(config.batch_size, 1000),
                retry_max_delay=min(config.retry_max_delay, 5.0), spool=spool,
                dead_letters=dead_letters)
    io.open_spool()
    mine = len(spool.segment_paths())
    running = len(_segments(spool.directory)) - mine
    while io.backlog or io.inflight:
        now = time.monotonic()
        if now >= deadline:
            break
        if not io.breaker.allow(now):
            time.sleep(max(min(io.breaker.ready_at(), deadline) - now, 0.0))
            continue
        wait = min(io.ack_timeout * 5, deadline - now)  # no requests to serve: wait longer
        if io.inflight:
            io.resolve(wait)
        else:
            io.replay_chunk(wait)
    io.close_sink(max(deadline - time.monotonic(), 0.0))
    left = spool.count_backlog()
    io.close_spool()
    counts = io.counters()
    return ReplayResult(sink.name, counts["replayed"], counts["dead_lettered"], left, running,
                        io.last_error if left else None)


def _segments(directory: str) -> list[str]:
    return [name for name in os.listdir(directory) if parse_segment_name(name) is not None]


def _label(directory: str) -> str:
    try:
        with open(os.path.join(directory, "SINK"), encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError:
        return "unknown sink"
