from __future__ import annotations

import os
import pathlib

import orjson
import pytest

from sstrack.sinks import build_sink, memory
from sstrack.sinks.base import Batch
from sstrack.sinks.jsonl import JsonlSink
from sstrack.sinks.memory import MemorySink
from sstrack.sinks.stdout import StdoutSink


def batch(*timestamps: str) -> Batch:
    events = [{"timestamp": ts, "n": i} for i, ts in enumerate(timestamps)]
    return Batch(events, [orjson.dumps(e) for e in events])


def test_jsonl_partitions_by_event_hour_and_process(tmp_path: pathlib.Path) -> None:
    sink = JsonlSink(str(tmp_path))
    sink.open()
    sink.write(batch("2026-11-22T06:59:59.999Z", "2026-11-22T07:00:00.000Z"))
    sink.write(batch("2026-11-22T07:30:00.000Z"))
    sink.close(1)
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.jsonl"))
    host = os.uname().nodename.split(".")[0]
    assert files == [f"2026/11/22/06/{host}-{os.getpid()}.jsonl",
                     f"2026/11/22/07/{host}-{os.getpid()}.jsonl"]
    seven = (tmp_path / files[1]).read_bytes()
    assert seven.endswith(b"\n")
    assert [orjson.loads(line)["timestamp"] for line in seven.splitlines()] == [
        "2026-11-22T07:00:00.000Z", "2026-11-22T07:30:00.000Z"]


def test_jsonl_appends_across_reopen(tmp_path: pathlib.Path) -> None:
    for _ in range(2):
        sink = JsonlSink(str(tmp_path))
        sink.open()
        sink.write(batch("2026-01-01T00:00:00.000Z"))
        sink.close(1)
    (path,) = tmp_path.rglob("*.jsonl")
    assert len(path.read_bytes().splitlines()) == 2


def test_jsonl_keeps_few_files_open(tmp_path: pathlib.Path) -> None:
    sink = JsonlSink(str(tmp_path))
    sink.open()
    for hour in range(10):
        sink.write(batch(f"2026-01-01T{hour:02d}:00:00.000Z"))
    assert len(sink._files) <= 2
    sink.close(1)
    assert len(list(tmp_path.rglob("*.jsonl"))) == 10


def test_stdout_writes_one_line_per_event(capfd: pytest.CaptureFixture[str]) -> None:
    sink = StdoutSink()
    sink.write(batch("2026-01-01T00:00:00.000Z", "2026-01-01T00:00:01.000Z"))
    lines = capfd.readouterr().out.splitlines()
    assert [orjson.loads(line)["n"] for line in lines] == [0, 1]


def test_memory_stores_are_named_and_clearable() -> None:
    MemorySink().write(batch("a"))
    MemorySink("other").write(batch("b", "c"))
    assert len(memory.events()) == 1 and len(memory.events("other")) == 2
    memory.clear("other")
    assert memory.events("other") == [] and len(memory.events()) == 1


@pytest.mark.parametrize(("url", "message"), [
    ("nowhere", "unknown scheme"),
    ("ftp://host", "unknown scheme; use one of jsonl:, stdout:, memory:, kafka:"),
    ("jsonl:", "needs a directory"),
    ("stdout:extra", "takes no argument"),
])
def test_bad_urls_explain_the_fix(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_sink(url, {})


def test_build_sink_validates_without_opening(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "new" / "dir"
    sink = build_sink(f"jsonl:{target}", {})
    assert sink.name == f"jsonl:{target}"
    assert target.is_dir() and list(target.iterdir()) == []  # no file until events arrive
