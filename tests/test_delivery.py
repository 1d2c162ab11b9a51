"""Delivery lanes: isolation between sinks, retries, spool, dead letters, flush and shutdown."""

from __future__ import annotations

import logging
import os
import statistics
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import orjson
import pytest

from sstrack.delivery import DeliveryOptions
from sstrack.dispatcher import Dispatcher
from sstrack.lane import MAX_ATTEMPTS
from sstrack.retry import Backoff
from sstrack.sinks.base import Batch, ReportsFailures, Sink

pytestmark = pytest.mark.timeout(60)


class TestSink:
    """Records event numbers and arrival times; can be slow, failing, or held on a gate."""

    __test__ = False

    def __init__(self, name: str, *, delay: float = 0.0, down: bool = False,
                 gate: threading.Event | None = None) -> None:
        self.name = name
        self.delay = delay
        self.down = down
        self.gate = gate
        self.ids: list[int] = []
        self.arrived: dict[int, float] = {}
        self.attempts: list[float] = []
        self.closed = False

    def open(self) -> None:
        pass

    def write(self, batch: Batch) -> None:
        self.attempts.append(time.monotonic())
        if self.gate is not None:
            self.gate.wait(20)
        time.sleep(self.delay)
        if self.down:
            raise ConnectionError(f"{self.name} is down")
        now = time.monotonic()
        for event in batch.events:
            self.ids.append(event["n"])
            self.arrived.setdefault(event["n"], now)

    def flush(self, timeout: float) -> None:
        pass

    def close(self, timeout: float) -> None:
        self.closed = True


class Failure(NamedTuple):
    line: bytes
    reason: str
    retriable: bool


class QueuingSink(TestSink):
    """Like Kafka: write() queues; flush() settles. Rejects multiples of 10 for good and
    fails multiples of 7 once, retriably."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.undelivered = 0
        self._held: list[bytes] = []
        self._failures: list[Failure] = []
        self._failed_once: set[int] = set()

    def write(self, batch: Batch) -> None:
        self._held.extend(batch.lines)
        self.undelivered = len(self._held)

    def flush(self, timeout: float) -> None:
        for line in self._held:
            n = orjson.loads(line)["n"]
            if n % 10 == 0:
                self._failures.append(Failure(line, "TOO_LARGE: rejected", False))
            elif n % 7 == 0 and n not in self._failed_once:
                self._failed_once.add(n)
                self._failures.append(Failure(line, "_MSG_TIMED_OUT: try again", True))
            else:
                self.ids.append(n)
        self._held.clear()
        self.undelivered = 0

    def take_failures(self) -> Sequence[Failure]:
        failures, self._failures = self._failures, []
        return failures


def make(sinks: Sequence[Sink], tmp_path: Path | None = None, *, spool: bool = False,
         **kwargs: Any) -> Dispatcher:
    options = DeliveryOptions(
        spool_dir=str(tmp_path / "spool") if spool and tmp_path else None,
        dead_letter_dir=str(tmp_path / "dead") if tmp_path else "./sstrack-dead-letter",
        retry_max_delay=kwargs.pop("retry_max_delay", 0.2), spool_fsync="never")
    kwargs.setdefault("flush_interval", 0.01)
    return Dispatcher(lambda: sinks, lambda n: {"n": n}, delivery=options, **kwargs)


def wait_until(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def produce(dispatcher: Dispatcher, count: int,
            pause: float) -> tuple[dict[int, float], list[float]]:
    """Put ``count`` records ``pause`` s apart; when each was put, and how long each put took."""
    sent, costs = {}, []
    for n in range(count):
        started = time.perf_counter()
        dispatcher.put(n)
        costs.append(time.perf_counter() - started)
        sent[n] = time.monotonic()
        time.sleep(pause)
    return sent, costs


def latencies(sink: TestSink, sent: dict[int, float]) -> list[float]:
    return sorted(sink.arrived[n] - sent[n] for n in sent)


def test_a_slow_and_a_failing_sink_do_not_delay_a_good_one(tmp_path: Path) -> None:
    alone = TestSink("good:")
    baseline = make([alone], batch_size=10)
    base_sent, base_costs = produce(baseline, 200, 0.002)
    assert baseline.flush(5)
    baseline.shutdown(5)

    good, slow, dead = TestSink("good:"), TestSink("slow:", delay=0.3), TestSink("dead:", down=True)
    dispatcher = make([slow, dead, good], tmp_path, batch_size=10)
    sent, costs = produce(dispatcher, 200, 0.002)
    wait_until(lambda: len(good.ids) == 200, 5)
    assert good.ids == list(range(200))
    base, with_others = latencies(alone, base_sent), latencies(good, sent)
    assert with_others[-1] < 0.25  # the slow sink takes 0.3 s per write: none of it here
    assert statistics.median(with_others) < statistics.median(base) + 0.02
    # The request path is an append either way.
    assert statistics.median(costs) < statistics.median(base_costs) * 3 + 20e-6
    assert dispatcher.flush(10)  # slow delivers; dead spools nothing (no spool): drops, counted
    assert slow.ids == list(range(200))
    stats = dispatcher.stats()
    assert stats["sinks"]["good:"]["delivered"] == stats["sinks"]["slow:"]["delivered"] == 200
    assert sum(stats["sinks"]["dead:"]["dropped"].values()) == 200
    dispatcher.shutdown(5)


def test_failing_sink_spools_then_replays_in_order_when_it_recovers(tmp_path: Path) -> None:
    sink = TestSink("flaky:", down=True)
    dispatcher = make([sink], tmp_path, spool=True, batch_size=10)
    produce(dispatcher, 300, 0.0005)
    assert dispatcher.flush(5)  # spooled counts as done
    stats = dispatcher.stats()["sinks"]["flaky:"]
    assert stats["spooled"] == 300 and stats["delivered"] == 0
    assert stats["spool_bytes"] > 0
    sink.down = False
    wait_until(lambda: len(sink.ids) >= 300)
    assert sink.ids == list(range(300))  # in order, nothing twice
    stats = dispatcher.stats()["sinks"]["flaky:"]
    assert stats["replayed"] == stats["delivered"] == 300 and stats["spool_bytes"] == 0
    assert stats["circuit"] == "closed"
    dispatcher.put(300)
    assert dispatcher.flush(5) and sink.ids[-1] == 300
    assert dispatcher.shutdown(5)
    assert list((tmp_path / "spool").rglob("*.jsonl")) == []


def test_permanent_failures_are_dead_lettered_and_retriable_ones_retried(tmp_path: Path) -> None:
    sink = QueuingSink("queuing:")
    assert isinstance(sink, ReportsFailures)
    dispatcher = make([sink], tmp_path, spool=True, batch_size=20)
    for n in range(1, 101):
        dispatcher.put(n)
    assert dispatcher.flush(5)
    wait_until(lambda: len(sink.ids) == 90)
    assert sorted(sink.ids) == [n for n in range(1, 101) if n % 10]
    [path] = (tmp_path / "dead").glob("*.jsonl")
    assert path.name.endswith(f"-{os.getpid()}.jsonl")
    letters = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert [letter["event"] for letter in letters] == [{"n": n} for n in range(10, 101, 10)]
    assert {letter["reason"] for letter in letters} == {"TOO_LARGE: rejected"}
    assert {letter["sink"] for letter in letters} == {"queuing:"}
    assert all(letter["at"].endswith("Z") for letter in letters)
    stats = dispatcher.stats()["sinks"]["queuing:"]
    retried = len([n for n in range(1, 101) if n % 7 == 0 and n % 10])
    assert stats["dead_lettered"] == 10 and stats["spooled"] == stats["replayed"] == retried
    assert stats["delivered"] == 90
    dispatcher.shutdown(5)


def test_retries_back_off_then_give_up_without_a_spool(tmp_path: Path) -> None:
    sink = TestSink("down:", down=True)
    dispatcher = make([sink], tmp_path, retry_max_delay=10.0)
    dispatcher.put(1)
    assert dispatcher.flush(5)  # each attempt failed; the event is given up, and counted
    assert len(sink.attempts) == MAX_ATTEMPTS
    gaps = [b - a for a, b in zip(sink.attempts, sink.attempts[1:], strict=False)]
    ceilings = [Backoff(0.1, 10.0).ceiling(n) for n in range(1, MAX_ATTEMPTS)]
    assert all(gap <= ceiling + 0.05 for gap, ceiling in zip(gaps, ceilings, strict=True))
    stats = dispatcher.stats()
    assert stats["sinks"]["down:"]["errors"] == MAX_ATTEMPTS
    assert stats["sinks"]["down:"]["retried"] == MAX_ATTEMPTS - 1
    assert stats["dropped"] == {"sink_error": 1}
    dispatcher.shutdown(5)


def test_a_dead_sink_keeps_memory_bounded_and_counts_every_loss(tmp_path: Path) -> None:
    sink = TestSink("dead:", down=True)
    dispatcher = make([sink], tmp_path, queue_size=50, batch_size=10, retry_max_delay=5.0)
    depths = []
    for n in range(5000):
        dispatcher.put(n)
        if n % 10 == 0:
            time.sleep(0.001)  # slower than the worker: the lane, not the main queue, overflows
        if n % 100 == 0:
            depths.append(dispatcher.stats()["sinks"].get("dead:", {}).get("queue_depth", 0))
    assert max(depths) <= 50 + 10  # one batch over capacity at most, briefly
    dispatcher.shutdown(0.5)
    stats = dispatcher.stats()
    assert sum(stats["dropped"].values()) == 5000  # every event accounted for, by reason
    assert stats["dropped"].get("sink_unavailable", 0) > 0


def test_overflow_of_a_stuck_sink_goes_to_the_spool(tmp_path: Path) -> None:
    gate = threading.Event()
    sink = TestSink("stuck:", gate=gate)
    dispatcher = make([sink], tmp_path, spool=True, queue_size=20, batch_size=5)
    for n in range(200):
        dispatcher.put(n)
        time.sleep(0.0005)
    wait_until(lambda: dispatcher.stats()["sinks"]["stuck:"]["spooled"] >= 150)
    assert dispatcher.stats()["sinks"]["stuck:"]["queue_depth"] <= 25
    gate.set()
    wait_until(lambda: len(sink.ids) == 200)
    assert sink.ids == list(range(200))
    dispatcher.shutdown(5)


def test_flush_reports_what_a_stuck_sink_still_holds(tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    gate = threading.Event()
    sink = TestSink("stuck:", gate=gate)
    dispatcher = make([sink], tmp_path)
    for n in range(3):
        dispatcher.put(n)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, "sstrack"):
        assert not dispatcher.flush(0.3)
    assert time.monotonic() - started < 1.5
    assert "stuck:: 3" in caplog.text
    gate.set()
    assert dispatcher.flush(5) and sink.ids == [0, 1, 2]
    dispatcher.shutdown(5)


def test_shutdown_spools_and_the_next_process_replays(tmp_path: Path) -> None:
    down = TestSink("s:", down=True)
    first = make([down], tmp_path, spool=True)
    for n in range(50):
        first.put(n)
    assert first.shutdown(2)  # nothing delivered, everything spooled: nothing lost
    assert first.stats()["sinks"]["s:"]["spooled"] == 50
    up = TestSink("s:")
    second = make([up], tmp_path, spool=True)
    second.put(50)  # starts the worker, which claims and replays the spool first
    wait_until(lambda: len(up.ids) == 51)
    assert up.ids == list(range(51))
    assert second.shutdown(2)


def test_shutdown_past_its_deadline_spools_the_queue_of_a_stuck_sink(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    gate = threading.Event()
    sink = TestSink("stuck:", gate=gate)
    dispatcher = make([sink], tmp_path, spool=True, batch_size=1)
    dispatcher.put(0)
    wait_until(lambda: sink.attempts)  # the lane is now stuck writing event 0
    for n in range(1, 10):
        dispatcher.put(n)
    time.sleep(0.05)
    with caplog.at_level(logging.WARNING, "sstrack"):
        assert not dispatcher.shutdown(0.3)  # event 0 is still with the sink
    assert "stuck:: 1" in caplog.text
    stats = dispatcher.stats()["sinks"]["stuck:"]
    assert stats["spooled"] == 9 and stats["queue_depth"] == 0
    gate.set()
    assert dispatcher.shutdown(1)  # idempotent


def _child_spools(dispatcher: Dispatcher, conn: Any) -> None:
    for n in range(100, 110):
        dispatcher.put(n)
    dispatcher.flush(5)
    conn.send(dispatcher.stats()["sinks"]["s:"]["spooled"])


def test_a_forked_child_spools_to_its_own_segments(tmp_path: Path) -> None:
    import multiprocessing

    sink = TestSink("s:", down=True)
    dispatcher = make([sink], tmp_path, spool=True)
    for n in range(10):
        dispatcher.put(n)
    assert dispatcher.flush(5)  # the parent's lane and spool exist when it forks
    parent_end, child_end = multiprocessing.Pipe()
    child = multiprocessing.get_context("fork").Process(target=_child_spools,
                                                        args=(dispatcher, child_end))
    child.start()
    assert parent_end.recv() == 10  # its own ten, none of the parent's
    child.join(10)
    owners = {path.name.split("_")[1] for path in (tmp_path / "spool").rglob("*.jsonl")}
    assert owners == {str(os.getpid()), str(child.pid)}
    assert dispatcher.stats()["sinks"]["s:"]["spooled"] == 10
    dispatcher.shutdown(5)  # as if the parent exited too: the next process replays both
    up = TestSink("s:")
    after = make([up], tmp_path, spool=True)
    after.put(200)
    wait_until(lambda: len(up.ids) == 21)
    assert sorted(up.ids) == [*range(10), *range(100, 110), 200]
    after.shutdown(5)
