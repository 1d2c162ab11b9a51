"""A delivery lane: one sink's bounded queue and thread, in one process.

The dispatcher's worker builds each batch once and hands it to every sink's
lane with :meth:`Lane.offer`: an append to the lane's bounded queue, so a
slow or dead sink cannot hold up the others. The lane's thread sends
*rounds* (everything queued, merged) and settles each round before the next
(:class:`~sstrack._lane_io.LaneIO`). Failures are retried with capped
exponential backoff and full jitter behind a circuit breaker. While the
circuit is open, or while the spool holds older events (which must go
first), queued events go to the spool and are replayed in order once a
probe succeeds. ``docs/delivery.md`` states the guarantees.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ._batch_queue import BatchQueue, Queued
from ._lane_io import LaneIO
from ._log import warn_limited
from .retry import CLOSED
from .sinks.base import Batch, Sink

__all__ = ["LANE_MAX_BYTES", "MAX_ATTEMPTS", "FlushRequest", "Lane"]

MAX_ATTEMPTS = 5
"""Without a spool, a batch is dropped (``sink_error``) after this many failed attempts."""

LANE_MAX_BYTES = 16 << 20
"""Encoded bytes a lane holds in memory at most (besides ``capacity`` events): with
large events the byte bound applies first, so memory stays bounded by a constant."""

_ROUND_EVENTS = 4096  # most events per attempt: ~75k events/s even at 55 ms per Kafka ack
_FULL_EVENTS = 1024  # queued events kept whole; beyond, compacted (see _batch_queue)
_CLAIM_INTERVAL = 30.0  # seconds between looks for dead processes' spool segments
_PROBE_WAIT = 0.25  # seconds a probe of an open circuit waits for a queuing sink


class FlushRequest:
    """A flush a lane answers: ``pending`` is what it could not deliver or spool in time."""

    __slots__ = ("deadline", "done", "pending", "target")

    def __init__(self, target: int, deadline: float) -> None:
        self.target = target
        self.deadline = deadline
        self.done = threading.Event()
        self.pending = -1


class Lane(LaneIO):
    """One sink's bounded queue and thread, on top of :class:`~sstrack._lane_io.LaneIO`.

    Args:
        sink: the sink, used only from the lane's thread.
        capacity: events held in memory; beyond it they are spooled, or dropped.
        drop_newest: without a spool, drop incoming batches rather than the oldest.
        **io: ``spool``, ``dead_letters``, ``retry_max_delay``, ``ack_timeout``.
    """

    def __init__(self, sink: Sink, *, capacity: int = 10_000, drop_newest: bool = False,
                 **io: Any) -> None:
        super().__init__(sink, round_events=min(capacity, _ROUND_EVENTS), **io)
        self._drop_newest = drop_newest
        self._cond = threading.Condition()  # guards _queue, _flushes and _stop_at
        self._queue = BatchQueue(capacity, LANE_MAX_BYTES, _FULL_EVENTS)
        self._busy = 0  # events in the round being sent
        self._flushes: list[FlushRequest] = []
        self._stop_at: float | None = None
        self._claim_at = time.monotonic() + _CLAIM_INTERVAL
        self._thread: threading.Thread | None = None

    # -- called by the dispatcher ------------------------------------------------------

    def start(self) -> None:
        """Open the spool (claiming dead processes' segments) and start the thread."""
        self.open_spool()
        self._thread = threading.Thread(target=self._run, name=f"sstrack-lane {self.name}"[:64],
                                        daemon=True)
        self._thread.start()

    def offer(self, batch: Batch, nbytes: int = -1) -> None:
        """Queue a batch (``nbytes`` encoded); an append unless the queue overflows.

        Never waits for the sink.
        """
        with self._cond:
            self._queue.push(batch, nbytes)
            over = self._queue.over()
            self._cond.notify()
        if over:
            self._overflow()

    def _overflow(self) -> None:
        """Spool the whole queue (the lane is behind anyway), or drop to capacity and count."""
        if self.spool is not None:
            with self.spool_lock:
                self.spool_all(item.lines for item in self._take_all())
            return
        reason = "queue_full" if self.breaker.state == CLOSED else "sink_unavailable"
        with self._cond:
            while self._queue.over() and self._queue:
                self.count_drop(reason, len(self._queue.pop(newest=self._drop_newest)))
        warn_limited(f"lane:{self.name}:{reason}", "sstrack sink %s cannot keep up (%s); "
                     "dropping the %s events", self.name, reason,
                     "newest" if self._drop_newest else "oldest")

    def _take_all(self) -> list[Queued]:
        with self._cond:
            return self._queue.take_all()

    def request_flush(self, deadline: float) -> FlushRequest:
        """Ask the thread to deliver or spool everything queued now, by ``deadline``."""
        with self._cond:
            request = FlushRequest(self._queue.seq, deadline)
            self._flushes.append(request)
            self._cond.notify()
        return request

    def stop(self, deadline: float) -> None:
        """Ask the thread to deliver what it can, spool the rest, close the sink, and end."""
        with self._cond:
            self._stop_at = deadline
            self._cond.notify()

    def join(self, timeout: float) -> bool:
        """Wait for the thread to end; ``True`` if it has (or never started)."""
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(max(timeout, 0.0))
        return not thread.is_alive()

    def abandon(self) -> int:
        """Spool (or count as dropped for ``shutdown``) what is still queued; returns the loss.

        The shutting-down thread calls this when the lane's thread is stuck in
        the sink past the deadline; the round being sent is left in flight.
        """
        items = self._take_all()
        if self.spool is not None and self.spool_lock.acquire(timeout=1.0):
            try:
                self.spool_all(item.lines for item in items)
            finally:
                self.spool_lock.release()
            return 0
        lost = sum(len(item) for item in items)
        self.count_drop("shutdown", lost)
        return lost

    def pending(self, target: int | None = None) -> int:
        """Events queued (up to flush ``target``), being sent, or unconfirmed by the sink."""
        with self._cond:
            queued = self._queue.events_through(target)
        return queued + self._busy + self.inflight

    def stats(self) -> dict[str, Any]:
        """This sink's counters (see ``docs/delivery.md``), and the sink's own under ``sink``."""
        result = {**self.counters(), "queue_depth": self._queue.events, "in_flight": self.inflight,
                  "circuit": self.breaker.state, "circuit_opened": self.breaker.opened}
        own = getattr(self.sink, "stats", None)
        if callable(own):
            try:
                result["sink"] = own()
            except Exception:  # stats must never fail because a sink's do
                result["sink"] = {}
        return result

    def forget(self) -> None:
        """In a forked child: let go of the parent's lane without touching the sink."""
        if self.spool is not None:
            self.spool.abandon()

    # -- the lane's thread -------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                self._wait_for_work()
                stopping = self._stop_at is not None
            try:
                if stopping:
                    self._finish()
                    return
                self._step(urgent=bool(self._flushes))
            except Exception:  # a bug here must not end delivery for this sink
                warn_limited(f"lane:{self.name}:bug", "sstrack lane %s failed", self.name,
                             exc_info=True)
                time.sleep(0.05)
            self._answer_flushes()

    def _wait_for_work(self) -> None:
        """Sleep, holding the condition, until something is due."""
        while self._stop_at is None:
            now = time.monotonic()
            wake = self._next_wake(now)
            if wake <= now:
                return
            self._cond.wait(wake - now)

    def _next_wake(self, now: float) -> float:
        due = [self._claim_at]
        sync_at = self.spool.next_sync_at() if self.spool is not None else None
        if sync_at is not None:
            due.append(sync_at)
        if self._flushes:
            if any(self.pending(request.target) == 0 for request in self._flushes):
                return now
            due.append(min(request.deadline for request in self._flushes))
        if self._queue and self._must_spill(now, bool(self._flushes)):
            return now
        if self._queue or self.inflight or self.backlog:
            due.append(self.breaker.ready_at())
        return min(due)

    def _must_spill(self, now: float, urgent: bool) -> bool:
        """Whether queued events must go to the spool now rather than wait in memory."""
        return self.spool is not None and (
            self.breaker.state != CLOSED or self.backlog > 0
            or (urgent and self.breaker.ready_at() > now))

    def _step(self, urgent: bool, budget: float | None = None) -> None:
        now = time.monotonic()
        self.housekeeping(now)
        if now >= self._claim_at:
            self._claim_at = now + _CLAIM_INTERVAL
            self.claim_orphans()
        if self._queue and self._must_spill(now, urgent):
            with self.spool_lock:
                self.spool_all(item.lines for item in self._take_all())
        if not (self.inflight or self.backlog or self._queue) or not self.breaker.allow(now):
            return
        # A probe of an open circuit waits briefly, so the thread soon returns to spooling.
        wait = self.ack_timeout if self.breaker.state == CLOSED else min(self.ack_timeout,
                                                                         _PROBE_WAIT)
        if budget is not None:
            wait = max(min(wait, budget), 0.0)
        if self.inflight:
            self.resolve(wait)
        elif self.backlog:
            self.replay_chunk(wait)
        else:
            self._send_round(wait)

    def _send_round(self, wait: float) -> None:
        with self._cond:
            items = self._queue.take(self.round_events)
            self._busy = sum(map(len, items))
        try:
            batch = _merge([item.full() for item in items])
            self.counts["retried"] += sum(len(item) for item in items if item.attempts)
            if not self.send(batch, wait):
                self._retry_later(items)
        finally:
            self._busy = 0

    def _retry_later(self, items: list[Queued]) -> None:
        """Put a failed round back at the head of the queue, or give up on it."""
        keep = []
        for item in items:
            item.attempts += 1
            if item.attempts < MAX_ATTEMPTS:
                keep.append(item)
            elif self.spool is not None:
                with self.spool_lock:
                    self.spool_all([item.lines])
            else:
                self.count_drop("sink_error", len(item))
        with self._cond:
            self._queue.push_front(keep)

    def requeue(self, batch: Batch) -> None:
        """Events a queuing sink failed after its own retries: one more attempt, first."""
        with self._cond:
            self._queue.push_front([Queued(batch, MAX_ATTEMPTS - 1)])

    def _answer_flushes(self) -> None:
        now = time.monotonic()
        for request in list(self._flushes):
            pending = self.pending(request.target)
            if pending and now < request.deadline:
                continue
            if not pending:
                self.flush_sink(max(request.deadline - now, 0.0))
            request.pending = pending
            with self._cond:
                self._flushes.remove(request)
            request.done.set()

    def _finish(self) -> None:
        """Deliver until shortly before the deadline; close the sink; spool or drop the rest."""
        assert self._stop_at is not None
        left = self._stop_at - time.monotonic()
        end = self._stop_at - (min(0.5, max(left, 0.0) / 4) if self.spool is not None else 0.0)
        while (self._queue or self.inflight) and not self.backlog:
            now = time.monotonic()
            ready = self.breaker.ready_at()
            if now >= end or (ready > now and (self.spool is not None or ready >= end)):
                break  # out of time, or the next retry comes too late: spool or count the rest
            if ready > now:
                time.sleep(ready - now)
            self._step(urgent=True, budget=end - time.monotonic())
        self.close_sink(max(self._stop_at - time.monotonic(), 0.0))
        self.abandon()
        self.close_spool()
        for request in self._flushes:
            request.pending = self.pending(request.target)
            request.done.set()


def _merge(batches: list[Batch]) -> Batch:
    if len(batches) == 1:
        return batches[0]
    events: list[dict[str, Any]] = []
    lines: list[bytes] = []
    for batch in batches:
        events.extend(batch.events)
        lines.extend(batch.lines)
    return Batch(events, lines)
