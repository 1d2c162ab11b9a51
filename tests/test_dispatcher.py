from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from typing import Any

import orjson
import pytest

from sstrack.dispatcher import Dispatcher, encode
from sstrack.sinks.base import Batch, Sink


class ListSink:
    """A sink keeping event ids, optionally blocked on an Event or failing."""

    def __init__(self, name: str = "list:", gate: threading.Event | None = None,
                 fail: bool = False) -> None:
        self.name = name
        self.gate = gate
        self.fail = fail
        self.ids: list[Any] = []
        self.opened_in: int | None = None
        self.flushes = 0
        self.closed = False

    def open(self) -> None:
        self.opened_in = os.getpid()

    def write(self, batch: Batch) -> None:
        if self.gate is not None:
            self.gate.wait(10)
        if self.fail:
            raise ConnectionError("sink is down")
        self.ids.extend(event["n"] for event in batch.events)

    def flush(self, timeout: float) -> None:
        self.flushes += 1

    def close(self, timeout: float) -> None:
        self.closed = True


def make(sinks: Sequence[Sink], **kwargs: Any) -> Dispatcher:
    kwargs.setdefault("flush_interval", 0.02)
    return Dispatcher(lambda: sinks, lambda n: {"n": n}, **kwargs)


def test_every_record_reaches_every_sink_in_order() -> None:
    a, b = ListSink("a:"), ListSink("b:")
    dispatcher = make([a, b], batch_size=7)
    for n in range(100):
        dispatcher.put(n)
    assert dispatcher.flush(5)
    assert a.ids == b.ids == list(range(100))
    stats = dispatcher.stats()
    assert stats["enqueued"] == stats["written"] == 100
    # Each sink now reports every outcome (docs/delivery.md); these two are the old keys.
    for name in ("a:", "b:"):
        assert stats["sinks"][name]["written"] == stats["sinks"][name]["delivered"] == 100
        assert stats["sinks"][name]["errors"] == 0
    assert a.flushes >= 1 and a.opened_in == os.getpid()
    dispatcher.shutdown(5)
    assert a.closed and b.closed


@pytest.mark.parametrize(("policy", "survivors"), [
    (False, list(range(10, 20))),   # drop_oldest keeps the newest
    (True, list(range(10))),     # drop_newest keeps the first
])
def test_overflow_drops_and_counts(policy: bool, survivors: list[int]) -> None:
    gate = threading.Event()
    sink = ListSink(gate=gate)
    dispatcher = make([sink], queue_size=10, drop_newest=policy, batch_size=1000,
                      flush_interval=60)
    for n in range(20):
        dispatcher.put(n)
    stats = dispatcher.stats()
    assert stats["dropped"] == {"queue_full": 10}
    assert stats["queue_depth"] == 10
    gate.set()
    assert dispatcher.flush(5)
    assert sink.ids == survivors
    assert dispatcher.stats()["enqueued"] == (20 if not policy else 10)
    dispatcher.shutdown(5)


def test_failing_sink_is_counted_and_does_not_stop_the_others() -> None:
    good, bad = ListSink("good:"), ListSink("bad:", fail=True)
    dispatcher = make([bad, good])
    for n in range(5):
        dispatcher.put(n)
    assert dispatcher.flush(5)
    assert good.ids == list(range(5))
    stats = dispatcher.stats()
    assert stats["errors"]["bad:"] >= 1 and stats["errors"]["good:"] == 0
    assert stats["dropped"]["sink_error"] == 5
    dispatcher.shutdown(5)


def test_process_errors_and_filters_are_counted() -> None:
    sink = ListSink()

    def process(n: int) -> dict[str, Any] | None:
        if n == 1:
            raise RuntimeError("bug")
        return None if n == 2 else {"n": n}

    dispatcher = Dispatcher(lambda: [sink], process, flush_interval=0.02)
    for n in range(4):
        dispatcher.put(n)
    assert dispatcher.flush(5)
    assert sink.ids == [0, 3]
    assert dispatcher.stats()["dropped"] == {"internal_error": 1, "filtered": 1}
    dispatcher.shutdown(5)


def test_worker_wakes_per_batch_not_per_event() -> None:
    sink = ListSink()
    dispatcher = make([sink], batch_size=50, flush_interval=60)
    for n in range(49):
        dispatcher.put(n)
    time.sleep(0.2)
    assert sink.ids == []  # below a batch and before the timer: the worker sleeps
    dispatcher.put(49)
    deadline = time.monotonic() + 5
    while len(sink.ids) < 50 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sink.ids == list(range(50))
    dispatcher.shutdown(5)


def test_flush_and_shutdown_are_idempotent_and_bounded() -> None:
    gate = threading.Event()
    sink = ListSink(gate=gate)
    dispatcher = make([sink])
    assert dispatcher.flush(1)  # nothing started: nothing to do
    dispatcher.put(1)
    started = time.monotonic()
    assert not dispatcher.flush(0.2)  # the sink is stuck: flush gives up on time
    assert time.monotonic() - started < 2
    assert not dispatcher.shutdown(0.2)
    gate.set()
    assert dispatcher.shutdown(1)  # second call: already shut down
    dispatcher.put(2)
    assert dispatcher.stats()["dropped"]["shutdown"] == 1


def test_shutdown_writes_everything_queued() -> None:
    sink = ListSink()
    dispatcher = make([sink], batch_size=10_000, flush_interval=60)
    for n in range(1000):
        dispatcher.put(n)
    assert dispatcher.shutdown(5)
    assert sink.ids == list(range(1000)) and sink.closed


def _child(dispatcher: Dispatcher, sink: ListSink, conn: Any) -> None:
    for n in range(100, 110):
        dispatcher.put(n)
    dispatcher.flush(5)
    conn.send((sink.ids, sink.opened_in))


def test_fork_child_starts_its_own_worker_and_inherits_nothing() -> None:
    gate = threading.Event()
    sink = ListSink(gate=gate)
    dispatcher = make([sink], flush_interval=60, batch_size=1000)
    for n in range(10):
        dispatcher.put(n)  # still queued in the parent when it forks
    parent_end, child_end = multiprocessing.Pipe()
    gate.set()
    process = multiprocessing.get_context("fork").Process(
        target=_child, args=(dispatcher, sink, child_end))
    process.start()
    child_ids, child_pid = parent_end.recv()
    process.join(10)
    assert child_ids == list(range(100, 110))  # no duplicate of the parent's 0..9
    assert child_pid == process.pid
    assert dispatcher.flush(5)
    assert sink.ids == list(range(10))
    dispatcher.shutdown(5)


def test_encode_survives_lone_surrogates_and_odd_objects() -> None:
    line = encode({"s": "bad\udc80", "o": object(), "n": 1})
    decoded = orjson.loads(line)
    assert decoded["s"].startswith("bad") and decoded["n"] == 1
    assert decoded["o"].startswith("<object object")
