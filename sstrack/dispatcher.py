"""A bounded queue and one background worker per process.

The request path calls :meth:`Dispatcher.put`: an append to a ``deque``,
O(1), lock-free and never blocking. The worker sleeps until a batch is due
(``batch_size`` records waiting) or ``flush_interval`` passes, so a busy
server pays for one thread wake-up per batch, not per request; it then
builds, encodes and writes the whole batch. Threads, files and clients are
created lazily in the process that uses them and again after a fork, the
way OpenTelemetry's ``BatchSpanProcessor`` and sentry-python's worker do.
"""

from __future__ import annotations

import atexit
import collections
import os
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from ._log import logger, warn_limited
from .sinks.base import Batch, Sink

__all__ = ["Dispatcher"]

Process = Callable[[Any], "dict[str, Any] | None"]
"""Turns a queued record into an event, or ``None`` to drop it."""

_MAX_EVENT_BYTES = 1 << 20


def _default(value: object) -> str:
    return str(value)[:1024]


def _replace_surrogates(value: Any, depth: int = 0) -> Any:
    """Make a value encodable when a lone surrogate made orjson refuse it."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if depth > 16:
        return None
    if isinstance(value, dict):
        return {_replace_surrogates(str(k)): _replace_surrogates(v, depth + 1)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_replace_surrogates(v, depth + 1) for v in value]
    return value


def encode(event: dict[str, Any]) -> bytes:
    """Compact JSON for one event; never fails on odd strings or objects."""
    try:
        return orjson.dumps(event, default=_default)
    except orjson.JSONEncodeError:
        return orjson.dumps(_replace_surrogates(event), default=_default)


class _SinkSlot:
    __slots__ = ("errors", "opened", "sink", "written")

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.opened = False
        self.written = 0
        self.errors = 0


class Dispatcher:
    """Moves captured records to sinks in the background.

    Args:
        make_sinks: builds this process's sinks; called in the worker, so a
            forked child gets its own files and clients.
        process: record → event (or ``None`` to drop it).
        queue_size: records held before the overflow policy applies.
        drop_newest: on overflow drop the incoming record instead of the oldest.
        batch_size: records that wake the worker early, and the most written at once.
        flush_interval: the longest a record waits in the queue, in seconds.
    """

    def __init__(self, make_sinks: Callable[[], Sequence[Sink]], process: Process, *,
                 queue_size: int = 10_000, drop_newest: bool = False,
                 batch_size: int = 512, flush_interval: float = 1.0) -> None:
        self._make_sinks = make_sinks
        self._process = process
        self._capacity = queue_size
        self._drop_newest = drop_newest
        self._batch_size = batch_size
        self._interval = flush_interval
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
        self._slots: list[_SinkSlot] = []
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
        if len(queue) >= self._batch_size:
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
            self._pid = pid
            if self._stopped:
                return
            self._thread = threading.Thread(target=self._run, name="sstrack-worker", daemon=True)
            self._thread.start()
            atexit.register(self._atexit)

    # -- worker ------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._slots = [_SinkSlot(sink) for sink in self._make_sinks()]
        except Exception:
            logger.exception("sstrack could not create its sinks; events will be dropped")
        stopping = False
        while not stopping:
            self._wake.wait(self._interval)
            self._wake.clear()
            with self._lock:
                waiters, self._waiters = self._waiters, []
                stopping = self._stopping
            try:
                self._drain()
                if waiters or stopping:
                    self._flush_sinks(timeout=5.0)
            except Exception:  # a bug here must not kill the worker
                warn_limited("worker", "sstrack worker error", exc_info=True)
            for waiter in waiters:
                waiter.set()
        for slot in self._slots:
            if slot.opened:
                self._guard(slot, "close", lambda s: s.close(2.0))

    def _drain(self) -> None:
        """Write what is queued now, in batches; later arrivals wait for the next wake."""
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
        events, lines = [], []
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
        self._processed += len(records)
        if not lines:
            return
        batch = Batch(events, lines)
        failed = False
        for slot in self._slots:
            if self._guard(slot, "write", lambda s: s.write(batch)):
                slot.written += len(lines)
            else:
                failed = True
        if failed or not self._slots:
            self._dropped["sink_error"] += len(lines)
        else:
            self._written += len(lines)

    def _guard(self, slot: _SinkSlot, action: str, call: Callable[[Sink], None]) -> bool:
        """Run a sink call; a failure is counted and logged, never raised."""
        try:
            if not slot.opened:
                slot.sink.open()
                slot.opened = True
            call(slot.sink)
        except Exception as exc:
            slot.errors += 1
            warn_limited(f"sink:{slot.sink.name}:{action}", "sstrack sink %s failed to %s: %r",
                         slot.sink.name, action, exc)
            return False
        return True

    def _flush_sinks(self, timeout: float) -> None:
        for slot in self._slots:
            if slot.opened:
                self._guard(slot, "flush", lambda s: s.flush(timeout))

    # -- lifecycle ---------------------------------------------------------

    def flush(self, timeout: float = 5.0) -> bool:
        """Write out everything queued so far; ``True`` if done within ``timeout`` seconds."""
        thread = self._thread
        if thread is None or not thread.is_alive() or self._pid != os.getpid():
            return not self._queue
        if thread is threading.current_thread():
            self._drain()
            self._flush_sinks(timeout)
            return True
        waiter = threading.Event()
        with self._lock:
            self._waiters.append(waiter)
        self._wake.set()
        return waiter.wait(timeout)

    def shutdown(self, timeout: float = 5.0) -> bool:
        """Flush, stop the worker and close the sinks. Idempotent.

        Returns ``True`` if everything queued was written within ``timeout``;
        otherwise what remains is counted as dropped (``shutdown``) and logged.
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
        if thread is not None and thread.is_alive() and self._pid == os.getpid():
            self._wake.set()
            thread.join(timeout)
            if thread.is_alive():
                lost = len(self._queue)
                self._dropped["shutdown"] += lost
                logger.warning("sstrack shutdown timed out after %.1fs; %d queued events "
                               "were not written", timeout, lost)
                return False
        return True

    def _atexit(self) -> None:
        self.shutdown(5.0)

    def _after_fork_in_child(self) -> None:
        self._init_process_state()

    def stats(self) -> dict[str, Any]:
        """Counters for this process (see :func:`sstrack.stats`)."""
        depth = len(self._queue)
        evicted = 0 if self._drop_newest else self._dropped["queue_full"]
        return {
            "enqueued": self._processed + depth + evicted,
            "written": self._written,
            "dropped": dict(self._dropped),
            "queue_depth": depth,
            "errors": {slot.sink.name: slot.errors for slot in self._slots},
            "sinks": {slot.sink.name: {"written": slot.written, "errors": slot.errors}
                      for slot in self._slots},
            "worker_alive": bool(self._thread and self._thread.is_alive()),
        }


_live: weakref.WeakSet[Dispatcher] = weakref.WeakSet()


def _reset_in_child() -> None:
    for dispatcher in list(_live):
        dispatcher._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_in_child)
