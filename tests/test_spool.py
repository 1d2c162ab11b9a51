"""The disk spool: order, cap, fsync policies, torn lines, and claiming dead processes' segments."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from sstrack import _segments
from sstrack import spool as spool_module
from sstrack.spool import Spool, owner_alive, parse_segment_name, process_start, sink_directory

pytestmark = pytest.mark.timeout(60)

SINK = "kafka://127.0.0.1:9092/events"


def lines(start: int, stop: int, pad: int = 0) -> list[bytes]:
    return [orjson.dumps({"n": n, "pad": "x" * pad}) for n in range(start, stop)]


def numbers(data: list[bytes]) -> list[int]:
    return [orjson.loads(line)["n"] for line in data]


def drain(spool: Spool, max_lines: int = 7) -> list[bytes]:
    """Read and commit everything, in chunks of ``max_lines``."""
    out = []
    while (chunk := spool.read(max_lines)) is not None:
        out.extend(chunk.lines)
        spool.commit(chunk)
    return out


def dead_pid() -> int:
    """The PID of a process that has exited (and been reaped)."""
    process = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                             capture_output=True, text=True, check=True)
    return int(process.stdout)


def orphan(directory: Path, pid: int, seq: int, data: bytes, start: str = "0") -> Path:
    """A segment as a process ``pid`` of this host would have left it."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{_segments.host()}_{pid}_{start}_{seq:08d}.jsonl"
    path.write_bytes(data)
    return path


def segments(directory: str) -> list[str]:
    return sorted(name for name in os.listdir(directory) if name.endswith(".jsonl"))


def test_lines_come_back_in_order_across_segments_and_files_go(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path), SINK, max_bytes=64 * 1024)  # 8 KiB segments
    spool.open()
    for start in range(0, 600, 50):
        assert spool.append(lines(start, start + 50, pad=20)) == 50
    assert len(segments(spool.directory)) >= 3
    assert spool.backlog == spool.disk_bytes > 0
    assert numbers(drain(spool)) == list(range(600))
    assert spool.backlog == 0 and segments(spool.directory) == []
    assert (Path(spool.directory) / "SINK").read_text() == SINK + "\n"


def test_read_again_before_commit_returns_the_same_lines(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path), SINK)
    spool.open()
    spool.append(lines(0, 10))
    first = spool.read(4)
    assert first is not None and numbers(first.lines) == [0, 1, 2, 3]
    assert spool.read(4) == first  # a failed attempt reads the same chunk again
    spool.commit(first)
    second = spool.read(100)
    assert second is not None and numbers(second.lines) == list(range(4, 10))


def test_cap_drops_the_oldest_segment_and_counts_it(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path), SINK, max_bytes=8192)  # 1 KiB segments
    spool.open()
    for start in range(0, 400, 10):
        spool.append(lines(start, start + 10, pad=40))
    assert spool.disk_bytes <= 8192
    kept = numbers(drain(spool, 1000))
    assert kept == list(range(400 - len(kept), 400))  # the newest survive, in order
    assert spool.dropped["spool_full"] == 400 - len(kept) > 0


def test_a_batch_bigger_than_the_cap_keeps_its_newest_lines(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path), SINK, max_bytes=2048)
    spool.open()
    kept = spool.append(lines(0, 100, pad=40))
    assert 0 < kept < 100 and spool.dropped["spool_full"] == 100 - kept
    assert numbers(drain(spool)) == list(range(100 - kept, 100))


@pytest.mark.parametrize(("policy", "expected"), [("always", 20), ("never", 0)])
def test_fsync_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, policy: str,
                      expected: int) -> None:
    calls: list[int] = []
    monkeypatch.setattr(os, "fdatasync", calls.append)
    spool = Spool(str(tmp_path), SINK, fsync=policy)
    spool.open()
    for start in range(20):
        spool.append(lines(start, start + 1))
    spool.close()
    assert len(calls) == expected == spool.fsyncs


def test_fsync_interval_syncs_at_most_once_per_interval(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(os, "fdatasync", calls.append)
    now = [100.0]
    monkeypatch.setattr(spool_module.time, "monotonic", lambda: now[0])
    spool = Spool(str(tmp_path), SINK, fsync="250")
    spool.open()
    synced_until = now[0]
    for _ in range(10):
        spool.append(lines(0, 1))
        now[0] += 0.1  # 10 appends over one second; the lane syncs when one is due
        due = spool.next_sync_at()
        if due is not None and due <= now[0]:
            spool.sync()
        if spool.next_sync_at() is None:
            synced_until = now[0]
        assert now[0] - synced_until <= 0.25 + 1e-9  # nothing unsynced for longer
    assert 3 <= len(calls) <= 4  # about once per 250 ms, not once per append
    spool.close()  # closing syncs what is left
    assert spool.next_sync_at() is None


def test_torn_last_line_of_a_dead_process_is_skipped(tmp_path: Path) -> None:
    directory = Path(sink_directory(str(tmp_path), SINK))
    complete = b"\n".join(lines(0, 5)) + b"\n"
    orphan(directory, dead_pid(), 1, complete + b'{"n": 5, "pa')
    spool = Spool(str(tmp_path), SINK)
    spool.open()
    assert numbers(drain(spool)) == list(range(5))
    assert spool.dropped["torn"] == 1 and segments(str(directory)) == []


def test_dead_processes_are_claimed_oldest_first_and_live_ones_left(tmp_path: Path) -> None:
    directory = Path(sink_directory(str(tmp_path), SINK))
    gone = dead_pid()
    orphan(directory, gone, 2, b"\n".join(lines(5, 10)) + b"\n")
    orphan(directory, gone, 1, b"\n".join(lines(0, 5)) + b"\n")
    live = orphan(directory, os.getppid(), 1, b"\n".join(lines(100, 101)) + b"\n",
                  start=process_start(os.getppid()))
    spool = Spool(str(tmp_path), SINK)
    spool.open()
    assert numbers(drain(spool)) == list(range(10))
    assert segments(str(directory)) == [live.name]


def test_a_recycled_pid_does_not_keep_a_dead_owners_segments(tmp_path: Path) -> None:
    # PID 1 after a container restart: alive, but started at another time.
    assert owner_alive(os.getpid(), process_start(os.getpid()))
    assert not owner_alive(os.getpid(), "1")
    assert not owner_alive(dead_pid(), "0")


def test_segments_left_by_a_closed_spool_of_this_process_are_replayed(tmp_path: Path) -> None:
    first = Spool(str(tmp_path), SINK)
    first.open()
    first.append(lines(0, 10))
    first.close()  # as when configure() replaces the tracker in the same process
    second = Spool(str(tmp_path), SINK)
    second.open()
    assert numbers(drain(second)) == list(range(10))


@pytest.mark.parametrize(("name", "parsed"), [
    ("web-1_4242_98765_00000007.jsonl", ("web-1", 4242, "98765", 7)),
    ("h_1_0_00000001.jsonl", ("h", 1, "0", 1)),
    ("h_1_0_1.json", None),
    ("SINK", None),
    ("h_x_0_1.jsonl", None),
    ("h_1_0.jsonl", None),
])
def test_segment_names(name: str, parsed: tuple[Any, ...] | None) -> None:
    assert parse_segment_name(name) == parsed


def _claim_and_read(root: str, queue: Any) -> None:
    spool = Spool(root, SINK)
    spool.open()
    queue.put(numbers(drain(spool)))


def test_concurrent_processes_claim_each_segment_exactly_once(tmp_path: Path) -> None:
    directory = Path(sink_directory(str(tmp_path), SINK))
    gone = dead_pid()
    for seq in range(60):
        orphan(directory, gone, seq, b"\n".join(lines(seq * 10, seq * 10 + 10)) + b"\n")
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [context.Process(target=_claim_and_read, args=(str(tmp_path), queue))
               for _ in range(4)]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=30) for _ in workers]
    for worker in workers:
        worker.join(10)
    got = sorted(n for result in results for n in result)
    assert got == list(range(600))  # nothing lost, nothing read twice
    assert all(result == sorted(result) for result in results)  # each in order
    assert segments(str(directory)) == []


def _spool_then_die(root: str, ready: Any) -> None:
    spool = Spool(root, SINK, fsync="always")
    spool.open()
    spool.append(lines(0, 50))
    ready.set()
    os._exit(0)  # no close(): as after SIGKILL


def test_a_crashed_writers_events_are_replayed_by_the_next_process(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    ready = context.Event()
    writer = context.Process(target=_spool_then_die, args=(str(tmp_path), ready))
    writer.start()
    writer.join(10)
    assert ready.is_set()
    spool = Spool(str(tmp_path), SINK)
    spool.open()
    assert numbers(drain(spool)) == list(range(50))
