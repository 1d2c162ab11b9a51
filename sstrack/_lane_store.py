"""What a delivery lane keeps: its spool, its dead letters, and its outcome counters.

The base of :class:`~sstrack._lane_io.LaneIO`. The spool calls hold
``spool_lock``, because the dispatcher's worker may spool an overflowing
queue while the lane's thread replays.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from ._log import logger, warn_limited
from .deadletter import DeadLetters
from .sinks.base import Sink
from .spool import Spool

__all__ = ["COUNTS", "LaneStore"]

COUNTS = ("written", "delivered", "errors", "retried", "spooled", "replayed", "dead_lettered",
          "sink_resets")
"""The per-sink outcome counters in ``stats()`` (see ``docs/delivery.md``)."""


class LaneStore:
    """One sink's spool, dead letters and counters.

    Args:
        sink: the sink (only its name is used here).
        spool: where events go when the sink cannot take them (``None``: nowhere).
        dead_letters: where permanently rejected events go (``None``: dropped).
    """

    def __init__(self, sink: Sink, spool: Spool | None, dead_letters: DeadLetters | None) -> None:
        self.name = sink.name
        self.spool = spool
        self.spool_lock = threading.Lock()
        self.dead_letters = dead_letters
        self.counts: collections.Counter[str] = collections.Counter()
        self.dropped: collections.Counter[str] = collections.Counter()
        self.backlog = 0  # spooled bytes not yet delivered (a copy readable without the lock)

    def open_spool(self) -> None:
        """Create the spool directory and claim dead processes' segments; off on failure."""
        if self.spool is None:
            return
        try:
            with self.spool_lock:
                self.spool.open()
                self.backlog = self.spool.backlog
        except OSError as exc:
            logger.error("sstrack cannot use the spool %s for sink %s (%s); events it cannot "
                         "take will be dropped", self.spool.directory, self.name, exc)
            self.spool = None

    def claim_orphans(self) -> None:
        """Adopt segments of processes that died since we last looked."""
        if self.spool is not None:
            with self.spool_lock:
                try:
                    self.spool.claim_orphans()
                except OSError as exc:
                    warn_limited(f"spool:{self.name}:claim", "sstrack spool %s: %s",
                                 self.spool.directory, exc)
                self.backlog = self.spool.backlog

    def spool_all(self, groups: Iterable[Sequence[bytes]]) -> None:
        """Append groups of lines to the spool; the caller holds ``spool_lock``."""
        lines = [line for group in groups for line in group]
        if lines:
            self._spool_lines(lines)

    def _spool_lines(self, lines: list[bytes]) -> None:
        assert self.spool is not None
        try:
            self.counts["spooled"] += self.spool.append(lines)
        except OSError as exc:
            self.count_drop("spool_error", len(lines))
            warn_limited(f"spool:{self.name}:write", "sstrack spool %s: cannot write (%s); "
                         "events dropped", self.spool.directory, exc)
        self.backlog = self.spool.backlog

    def housekeeping(self, now: float) -> None:
        """Force spooled data to disk when the ``fsync`` interval is due."""
        spool = self.spool
        if spool is not None and (due := spool.next_sync_at()) is not None and due <= now:
            self.sync_spool()

    def sync_spool(self) -> None:
        """Force spooled data to disk (per the fsync policy)."""
        if self.spool is not None:
            with self.spool_lock:
                try:
                    self.spool.sync()
                except OSError as exc:
                    warn_limited(f"spool:{self.name}:sync", "sstrack spool %s: fsync failed "
                                 "(%s)", self.spool.directory, exc)

    def close_spool(self) -> None:
        """Sync and close the spool's open segment."""
        if self.spool is not None:
            with self.spool_lock:
                try:
                    self.spool.close()
                except OSError as exc:
                    logger.warning("sstrack spool %s: close failed (%s)", self.spool.directory,
                                   exc)

    def dead_letter(self, rejected: list[tuple[bytes, str]]) -> None:
        """Record events the sink refused for good."""
        if not rejected:
            return
        if self.dead_letters is None:
            self.count_drop("rejected", len(rejected))
            return
        try:
            self.dead_letters.write(self.name, rejected)
        except OSError as exc:
            self.count_drop("dead_letter_error", len(rejected))
            warn_limited(f"dead:{self.name}", "sstrack cannot write dead letters to %s (%s)",
                         self.dead_letters.directory, exc)
            return
        self.counts["dead_lettered"] += len(rejected)
        warn_limited(f"dead:{self.name}:reason", "sstrack sink %s rejected %d event(s) for "
                     "good, e.g. %s; see %s", self.name, len(rejected), rejected[0][1],
                     self.dead_letters.path())

    def counters(self) -> dict[str, Any]:
        """Outcome counters; safe to read from any thread (dict copies are atomic)."""
        counts, dropped = dict(self.counts), dict(self.dropped)
        if self.spool is not None:
            for reason, count in dict(self.spool.dropped).items():
                dropped[reason] = dropped.get(reason, 0) + count
        result: dict[str, Any] = {key: counts.get(key, 0) for key in COUNTS}
        result["dropped"] = {reason: count for reason, count in dropped.items() if count}
        result["spool_bytes"] = self.backlog
        return result

    def count_drop(self, reason: str, count: int) -> None:
        """Count events lost for ``reason``."""
        if count:
            self.dropped[reason] += count
