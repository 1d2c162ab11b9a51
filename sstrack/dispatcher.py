"""A bounded queue and one background worker per process.

The request path calls :meth:`Dispatcher.put`: an append to a ``deque``,
O(1), lock-free and never blocking. The worker sleeps until a batch is due
(``batch_size`` records waiting) or ``flush_interval`` passes, so a busy
server pays for one thread wake-up per batch, not per request; it then
builds and encodes the whole batch once and hands it to every sink's
delivery lane (:mod:`sstrack.delivery`), which writes, retries and spools on
its own thread, so one slow or dead sink never holds up the others. Threads,
files and clients are created lazily in the process that uses them and again
after a fork, the way OpenTelemetry's ``BatchSpanProcessor`` and
sentry-python's worker do.
"""

from __future__ import annotations

import atexit
import collections
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from ._log import logger, warn_limited
from .deadletter import DeadLetters
from .delivery import DeliveryOptions, describe, flush_lanes, stop_lanes
from .encoding import encode
from .lane import Lane
from .sinks.base import Batch, Sink

__all__ = ["Dispatcher", "encode"]

Process = Callable[[Any], "dict[str, Any] | None"]
"""Turns a queued record into an event, or ``None`` to drop it."""

_MAX_EVENT_BYTES = 1 << 20


class Dispatcher:
    """Moves captured records to sinks in the background.

    Args:
        make_sinks: builds this process's sinks; called in the worker, so a
            forked child gets its own files and clients.
        process: record → event (or ``None`` to drop it).
        queue_size: records held before the overflow policy applies; also
            the events each sink's lane holds in memory.
        drop_newest: on overflow drop the incoming record instead of the oldest.
        batch_size: records that wake the worker early, and the most built at once.
        flush_interval: the longest a record waits in the queue, in seconds.
        delivery: retries, spool and dead letters (defaults: no spool).
    """

    Options = DeliveryOptions
    """The type of ``delivery``: ``Dispatcher.Options.from_config(config)``."""

    def __init__(self, make_sinks: Callable[[], Sequence[Sink]], process: Process, *,
                 queue_size: int = 10_000, drop_newest: bool = False,
                 batch_size: int = 512, flush_interval: float = 1.0,
                 delivery: DeliveryOptions | None = None) -> None:
        self._make_sinks = make_sinks
        self._process = process
        self._capacity = queue_size
        self._drop_newest = drop_newest
        self._batch_size = batch_size
        self._interval = flush_interval
        self._delivery = delivery or DeliveryOptions()
        self._init_process_state()
        _live.add(self)

    def _init_process_state(self) -> None:
        """Everything that must not be shared between a parent and a forked child."""
        self._queue: collections.deque[Any] = collections.deque(maxlen=self._capacity)
        self._limit = self._capacity  # set to 0 at shutdown: every put() then overflows
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._waiters: list[threading.Event] = []
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._stopping = False
        self._stopped = False
        self._lanes: list[Lane] = []
        self._processed = 0
        self._written = 0
        self._dropped: collections.Counter[str] = collections.Counter()

    # -- request path ------------------------------------------------------

    def put(self, record: Any) -> None:
        """Queue a record for the worker. O(1); never blocks, never raises."""
        if self._pid != os.getpid():
            self._start()
        queue = self._queue
        if len(queue) >= self._limit and self._overflow():
            return
        queue.append(record)  # a full deque with maxlen drops its oldest item
        # is_set() is a plain read; set() takes a lock and notifies, and would
        # run on every put while a batch waits for the worker.
        if len(queue) >= self._batch_size and not self._wake.is_set():
            self._wake.set()

    def _overflow(self) -> bool:
        """Count an overflow; ``True`` if the incoming record must be dropped."""
        with self._lock:
            reason = "shutdown" if self._stopped else "queue_full"
            self._dropped[reason] += 1
        if reason == "shutdown":
            return True
        warn_limited("queue_full", "sstrack queue is full (%d events); dropping the %s ones",
                     self._capacity, "newest" if self._drop_newest else "oldest")
        return self._drop_newest

    def drop(self, reason: str) -> None:
        """Count a record that never reached the queue (e.g. ``internal_error``)."""
        with self._lock:
            self._dropped[reason] += 1

    def _start(self) -> None:
        with self._lock:
            pid = os.getpid()
            if self._pid == pid:
                return
            if self._pid is not None:
                # Forked without our at-fork hook (uWSGI without
                # py-call-uwsgi-fork-hooks): the parent delivers what it queued.
                self._queue.clear()
                self._lanes = []
            self._pid = pid
            if self._stopped:
                return
            self._thread = threading.Thread(target=self._run, name="sstrack-worker", daemon=True)
            self._thread.start()
            atexit.register(self._atexit)

    # -- worker ------------------------------------------------------------

    def _run(self) -> None:
        self._lanes = self._open_lanes()
        stopping = False
        while not stopping:
            self._wake.wait(self._interval)
            self._wake.clear()
            with self._lock:
                waiters, self._waiters = self._waiters, []
                stopping = self._stopping
            try:
                self._drain()
            except Exception:  # a bug here must not kill the worker
                warn_limited("worker", "sstrack worker error", exc_info=True)
            for waiter in waiters:
                waiter.set()

    def _open_lanes(self) -> list[Lane]:
        try:
            sinks = self._make_sinks()
        except Exception:
            logger.exception("sstrack could not create its sinks; events will be dropped")
            return []
        dead_letters = DeadLetters(self._delivery.dead_letter_dir)
        lanes = [self._delivery.lane(sink, dead_letters, self._capacity, self._drop_newest)
                 for sink in sinks]
        for lane in lanes:
            lane.start()
        return lanes

    def _drain(self) -> None:
        """Build what is queued now, in batches; later arrivals wait for the next wake."""
        queue, remaining = self._queue, len(self._queue)
        while remaining > 0:
            records = []
            for _ in range(min(remaining, self._batch_size)):
                try:
                    records.append(queue.popleft())
                except IndexError:  # overflow evicted some of what we counted
                    break
            if not records:
                return
            remaining -= len(records)
            self._write(records)

    def _write(self, records: list[Any]) -> None:
        events, lines, size = [], [], 0
        for record in records:
            try:
                event = self._process(record)
                if event is None:
                    self._dropped["filtered"] += 1
                    continue
                line = encode(event)
            except Exception:
                self._dropped["internal_error"] += 1
                warn_limited("process", "sstrack failed to build an event", exc_info=True)
                continue
            if len(line) > _MAX_EVENT_BYTES:
                self._dropped["oversized"] += 1
                continue
            events.append(event)
            lines.append(line)
            size += len(line)
        self._processed += len(records)
        if not lines:
            return
        if not self._lanes:
            self._dropped["sink_error"] += len(lines)
            return
        batch = Batch(events, lines)
        for lane in self._lanes:
            lane.offer(batch, size)  # an append: a slow sink's lane cannot hold up the others
        self._written += len(lines)

    # -- lifecycle ---------------------------------------------------------

    def flush(self, timeout: float = 5.0) -> bool:
        """Deliver or spool everything queued so far; ``True`` if done within ``timeout`` s.

        On ``False``, a warning names each sink and the events it still holds
        (they stay queued, or with the sink, and are not lost yet).
        """
        thread = self._thread
        if thread is None or not thread.is_alive() or self._pid != os.getpid():
            return not self._queue
        deadline = time.monotonic() + timeout
        if thread is threading.current_thread():
            self._drain()
        else:
            waiter = threading.Event()
            with self._lock:
                self._waiters.append(waiter)
            self._wake.set()
            if not waiter.wait(timeout):
                warn_limited("flush", "sstrack flush timed out after %.1fs with %d events not "
                             "yet handed to the sinks", timeout, len(self._queue))
                return False
        pending = flush_lanes(self._lanes, deadline)
        if pending:
            warn_limited("flush", "sstrack flush: after %.1fs these sinks still hold events "
                         "neither delivered nor spooled: %s", timeout, describe(pending))
        return not pending

    def shutdown(self, timeout: float = 5.0) -> bool:
        """Deliver or spool everything, stop the worker and close the sinks. Idempotent.

        Returns ``True`` if every event was delivered or spooled within
        ``timeout``; otherwise what was dropped (``shutdown``) or left in flight
        is counted in ``stats()`` and logged.
        """
        with self._lock:
            if self._stopped:
                return True
            self._stopped = self._stopping = True
            thread = self._thread
            # From now on put() finds the queue "full" and counts each record
            # as dropped for shutdown, at no cost to the request path.
            self._limit = 0
        atexit.unregister(self._atexit)
        if thread is None or self._pid != os.getpid():
            return True
        deadline = time.monotonic() + timeout
        if thread.is_alive():
            self._wake.set()
            thread.join(timeout)
        lost = {"(queue)": len(self._queue)} if thread.is_alive() else {}
        self._dropped["shutdown"] += sum(lost.values())
        lost.update(stop_lanes(self._lanes, deadline))
        if lost:
            logger.warning("sstrack shutdown: within %.1fs these events were neither delivered "
                           "nor spooled: %s", timeout, describe(lost))
        spooled = {lane.name: lane.backlog for lane in self._lanes if lane.backlog}
        if spooled:
            logger.info("sstrack shutdown: spooled events wait for the next start or "
                        "`sstrack replay` (bytes per sink): %s", describe(spooled))
        return not lost

    def _atexit(self) -> None:
        self.shutdown(self._delivery.shutdown_timeout)

    def _after_fork_in_child(self) -> None:
        for lane in self._lanes:
            lane.forget()
        self._init_process_state()

    def stats(self) -> dict[str, Any]:
        """Counters for this process (see :func:`sstrack.stats` and ``docs/delivery.md``)."""
        depth = len(self._queue)
        evicted = 0 if self._drop_newest else self._dropped["queue_full"]
        sinks = {lane.name: lane.stats() for lane in list(self._lanes)}
        dropped = collections.Counter(dict(self._dropped))
        for counters in sinks.values():
            dropped.update(counters["dropped"])
        return {
            "enqueued": self._processed + depth + evicted,
            "written": self._written,
            "dropped": dict(+dropped),
            "queue_depth": depth,
            "errors": {name: counters["errors"] for name, counters in sinks.items()},
            "sinks": sinks,
            "worker_alive": bool(self._thread and self._thread.is_alive()),
        }


_live: weakref.WeakSet[Dispatcher] = weakref.WeakSet()


def _reset_in_child() -> None:
    for dispatcher in list(_live):
        dispatcher._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_in_child)
