"""Events/s from sstrack's queue into the JSON-lines sink, against a raw write loop.

Usage::

    python benchmarks/sink_throughput.py     # about 30 seconds

The events are real ones: the returning visitor's request (``visitor.py``)
run through the ASGI middleware and built by the tracker, N of them.

- raw: the same events, serialised beforehand, written to a file the way
  the sink writes (unbuffered, ``b"\\n".join`` of 512 lines per ``write()``):
  the most any JSON-lines writer in Python could do with these bytes.
- dispatcher: ``Dispatcher.put`` of every event dict, then ``flush()``; the
  worker thread encodes them with orjson and ``JsonlSink`` writes them in
  batches of 512 (the default), as in production, minus building the event.
- full pipeline (for information): the request records themselves, so the
  worker also builds each event (``RequestRecord.to_event``).

Each is timed two ways, in rounds that alternate the order: by the wall
clock from the first event to the last byte written (the producer's
``put()`` calls and GIL hand-offs included), and by the CPU time the writing
thread spent (for the dispatcher: the process's CPU time minus the producing
thread's), which is how many events/s one core can drain. The ratio to raw
is the median of the per-round ratios; issue 7's target (>= 0.6) is judged
on drain capacity, and both are printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import machine
from inprocess import captured_records

import sstrack
from sstrack.dispatcher import Dispatcher, encode
from sstrack.sinks.jsonl import JsonlSink

TARGET = 0.6
BATCH = 512


Timing = tuple[float, float]  # (wall seconds, CPU seconds of the writing thread)


def raw_loop(lines: Sequence[bytes], directory: Path) -> Timing:
    """Write pre-serialised lines as the sink does, without the sink."""
    wall, cpu = time.perf_counter(), time.process_time()
    with open(directory / "raw.jsonl", "ab", buffering=0) as out:
        for i in range(0, len(lines), BATCH):
            out.write(b"\n".join([*lines[i:i + BATCH], b""]))
    return time.perf_counter() - wall, time.process_time() - cpu


def through_dispatcher(items: Sequence[Any], process: Callable[[Any], Any],
                       directory: Path) -> Timing:
    """From the first ``put`` until ``flush`` returns with everything written."""
    dispatcher = Dispatcher(lambda: [JsonlSink(str(directory))], process,
                            queue_size=len(items), batch_size=BATCH, flush_interval=1.0)
    wall, cpu, producer = time.perf_counter(), time.process_time(), time.thread_time()
    for item in items:
        dispatcher.put(item)
    producer = time.thread_time() - producer
    if not dispatcher.flush(120.0):
        raise RuntimeError("the dispatcher did not finish in 120 s")
    timing = time.perf_counter() - wall, time.process_time() - cpu - producer
    stats = dispatcher.stats()
    dispatcher.shutdown(10.0)
    if stats["written"] != len(items):
        raise RuntimeError(f"wrote {stats['written']} of {len(items)} events: {stats}")
    return timing


def ratios(times: dict[str, list[Timing]], name: str, kind: int) -> list[float]:
    """Per-round throughput ratios of ``name`` to raw (kind 0: wall clock, 1: CPU)."""
    return [raw[kind] / t[kind] for raw, t in zip(times["raw"], times[name], strict=True)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    n = args.events
    with tempfile.TemporaryDirectory(prefix="sstrack-sink-") as tmp:
        sstrack.configure(sinks=f"jsonl:{tmp}/unused")
        process = sstrack.runtime.current()._process  # the worker's record -> event step
        events = [process(record) for record in captured_records(n)]
        lines = [encode(event) for event in events]
        print(machine.describe())
        print(f"{n:,} events of {sum(map(len, lines)) / n:.0f} bytes, batches of {BATCH}, "
              f"{args.rounds} rounds\n")
        times: dict[str, list[Timing]] = {"raw": [], "dispatcher": [], "full": []}
        for round_ in range(args.rounds):
            folder = Path(tmp) / f"round{round_}"
            folder.mkdir()
            arms: list[tuple[str, Callable[[Path], Timing]]] = [
                ("raw", lambda out: raw_loop(lines, out)),
                ("dispatcher", lambda out: through_dispatcher(events, lambda e: e, out / "d")),
                ("full", lambda out: through_dispatcher(captured_records(n), process, out / "f")),
            ]
            for name, arm in arms if round_ % 2 == 0 else reversed(arms):
                times[name].append(arm(folder))
    median = statistics.median
    print("| path | events/s, wall clock | ratio to raw (range) | events/s per core of the "
          "writing thread | ratio to raw (range) |\n|---|---:|---:|---:|---:|")
    for name, label in (("raw", "raw write loop, pre-serialised"),
                        ("dispatcher", "Dispatcher -> encode -> JsonlSink"),
                        ("full", "full pipeline: + RequestRecord.to_event")):
        cells = []
        for kind in (0, 1):
            per_round = ratios(times, name, kind)
            cells.append(f"{n / median(t[kind] for t in times[name]):,.0f} | "
                         f"{median(per_round):.3f} ({min(per_round):.2f}-{max(per_round):.2f})")
        print(f"| {label} | {' | '.join(cells)} |")
    drain = median(ratios(times, "dispatcher", 1))
    wall = median(ratios(times, "dispatcher", 0))
    print(f"\nTarget (issue 7): JSON-lines sink / raw write loop, drain capacity: {drain:.3f} "
          f"(target >= {TARGET}) -> {'MET' if drain >= TARGET else 'MISSED'}; "
          f"wall clock with the producer: {wall:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
