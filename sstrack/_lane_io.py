"""The sink-facing half of a delivery lane: attempts and the outcome of each.

:class:`~sstrack.lane.Lane` adds the queue and the thread; everything here
runs on that thread (or, for ``sstrack replay``, on the caller's). An
attempt writes a batch and, for a sink that queues internally
(:class:`~sstrack.sinks.base.ReportsFailures`), flushes it and settles what
was delivered, failed retriably (spooled, or kept for another attempt),
failed for good (dead-lettered), or is still held (the circuit opens).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import orjson

from ._lane_store import LaneStore
from ._log import logger, warn_limited
from .deadletter import DeadLetters
from .retry import Backoff, CircuitBreaker
from .sinks.base import Batch, ReportsFailures, Sink
from .spool import Chunk, Spool

__all__ = ["LaneIO", "decode"]

_BACKOFF_BASE = 0.1  # seconds: the first retry waits up to this
_THRESHOLD = 3  # consecutive failures that open the circuit
_RESET_EVERY = 4  # consecutive failures after which the sink's client is replaced


def decode(lines: Sequence[bytes]) -> tuple[Batch, int]:
    """Spooled lines back into a batch; also how many were unreadable (and left out)."""
    events: list[dict[str, Any]] = []
    kept: list[bytes] = []
    for line in lines:
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(event, dict):
            events.append(event)
            kept.append(line)
    return Batch(events, kept), len(lines) - len(kept)


class LaneIO(LaneStore):
    """Sends to one sink and settles each outcome: delivered, retried, spooled, dead-lettered.

    Args:
        sink: the sink.
        round_events: the most events sent (or replayed) in one attempt.
        retry_max_delay: cap of the backoff between attempts, in seconds.
        ack_timeout: how long an attempt waits for a queuing sink's confirmation.
        spool: where events go when the sink cannot take them (``None``: nowhere).
        dead_letters: where permanently rejected events go (``None``: dropped).
    """

    def __init__(self, sink: Sink, *, round_events: int = 10_000, retry_max_delay: float = 30.0,
                 ack_timeout: float = 2.0, spool: Spool | None = None,
                 dead_letters: DeadLetters | None = None) -> None:
        super().__init__(sink, spool, dead_letters)
        self.sink = sink
        self.reports: ReportsFailures | None = (
            sink if isinstance(sink, ReportsFailures) else None)
        self.round_events = round_events
        self.ack_timeout = ack_timeout
        self.breaker = CircuitBreaker(Backoff(_BACKOFF_BASE, retry_max_delay), _THRESHOLD)
        self.inflight = 0  # events a queuing sink holds, neither delivered nor failed yet
        self._chunk: Chunk | None = None  # a replayed chunk awaiting the sink's confirmation
        self._chunk_events = 0
        self._opened = False
        self.last_error: str | None = None  # for ``sstrack replay``'s report

    def requeue(self, batch: Batch) -> None:
        """Keep events for one more attempt (no spool); the lane puts them at its head."""
        raise NotImplementedError

    # -- attempts ------------------------------------------------------------------

    def _write(self, batch: Batch) -> bool:
        try:
            if not self._opened:
                self.sink.open()
                self._opened = True
            self.sink.write(batch)
        except Exception as exc:
            self.counts["errors"] += 1
            self.last_error = f"write failed: {exc!r}"
            warn_limited(f"sink:{self.name}:write", "sstrack sink %s failed to write: %r",
                         self.name, exc)
            return False
        self.counts["written"] += len(batch)
        return True

    def send(self, batch: Batch, wait: float) -> bool:
        """One attempt at a live round; ``False`` if the sink raised (the caller retries)."""
        if not self._write(batch):
            self._failed()
            return False
        if self.reports is None:
            self.counts["delivered"] += len(batch)
            self.breaker.success()
        else:
            self.inflight += len(batch)
            self.resolve(wait)
        return True

    def replay_chunk(self, wait: float) -> None:
        """Send the oldest spooled events; they leave the spool once the sink confirms."""
        assert self.spool is not None
        with self.spool_lock:
            chunk = self.spool.read(self.round_events)
            self.backlog = self.spool.backlog
        if chunk is None:
            return
        batch, corrupt = decode(chunk.lines)
        self.count_drop("spool_corrupt", corrupt)
        if batch.lines and not self._write(batch):
            self._failed()  # the chunk stays in the spool, to be read again
            return
        self._chunk, self._chunk_events = chunk, len(batch)
        if self.reports is None:
            self.counts["delivered"] += len(batch)
            self._commit(0)
            self.breaker.success()
        else:
            self.inflight += len(batch)
            self.resolve(wait)

    def _commit(self, failed: int) -> None:
        chunk = self._chunk
        if chunk is not None and self.spool is not None:
            with self.spool_lock:
                self.spool.commit(chunk)
                self.backlog = self.spool.backlog
            self.counts["replayed"] += max(self._chunk_events - failed, 0)
        self._chunk = None

    def resolve(self, timeout: float) -> None:
        """Flush a queuing sink, then settle what it delivered, failed, or still holds."""
        assert self.reports is not None
        try:
            self.sink.flush(timeout)
        except Exception as exc:
            self.counts["errors"] += 1
            warn_limited(f"sink:{self.name}:flush", "sstrack sink %s failed to flush: %r",
                         self.name, exc)
        unresolved = min(max(int(self.reports.undelivered), 0), self.inflight)
        retriable = self._settle(self.inflight - unresolved, unresolved)
        if self.inflight:
            self.last_error = f"{self.inflight} events not confirmed within {timeout:g} s"
            self._failed(trip=True)  # it holds events it has not confirmed
        elif retriable:
            self._failed()
        else:
            self.breaker.success()

    def _failed(self, trip: bool = False) -> None:
        """Count a failed attempt; now and then replace the sink's client.

        A client can wedge for good (an idempotent producer fenced after its
        messages timed out keeps failing every message), so every
        ``_RESET_EVERY`` consecutive failures the sink is closed and reopened
        on the next attempt, but only while it holds nothing: librdkafka may
        drop the reports of messages purged in flight, which would hide them.
        """
        self.breaker.failure(time.monotonic(), trip=trip)
        if self.breaker.failures % _RESET_EVERY == 0 and self._opened and not self.inflight:
            self.counts["sink_resets"] += 1
            self.close_sink(0.0, closing=False)

    def _settle(self, settled: int, unresolved: int, closing: bool = False) -> int:
        """Account for ``settled`` events (delivered unless reported failed); returns retriable."""
        assert self.reports is not None
        failures = list(self.reports.take_failures())
        self.inflight = unresolved
        self.counts["delivered"] += max(settled - len(failures), 0)
        self.dead_letter([(f.line, f.reason) for f in failures if not f.retriable])
        retriable = [f.line for f in failures if f.retriable]
        if retriable:
            self.last_error = next(f.reason for f in failures if f.retriable)
            if self.spool is not None:
                with self.spool_lock:  # spooled again before the chunk is committed: no loss
                    self._spool_lines(retriable)
            elif closing:
                self.count_drop("shutdown", len(retriable))
            else:
                self.requeue(decode(retriable)[0])
        if not unresolved:
            self._commit(len(failures))
        return len(retriable)

    def flush_sink(self, timeout: float) -> None:
        """Push a buffering sink's data out, and force the spool to disk."""
        if self._opened and self.reports is None:
            try:
                self.sink.flush(timeout)
            except Exception as exc:
                self.counts["errors"] += 1
                warn_limited(f"sink:{self.name}:flush", "sstrack sink %s failed to flush: %r",
                             self.name, exc)
        self.sync_spool()

    def close_sink(self, timeout: float, closing: bool = True) -> None:
        """Close the sink; what a queuing sink still held comes back as failures.

        Those are spooled; without a spool they are dropped when ``closing``,
        else kept for another attempt.
        """
        if self._opened:
            self._opened = False
            try:
                self.sink.close(timeout)
            except Exception as exc:
                self.counts["errors"] += 1
                logger.warning("sstrack sink %s failed to close: %r", self.name, exc)
        if self.reports is not None:
            self._settle(self.inflight, 0, closing=closing)
