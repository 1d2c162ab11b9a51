"""RSS stays bounded while the sink is down and requests keep coming.

Usage::

    python benchmarks/memory_bound.py                  # 1,000,000 requests per scenario
    python benchmarks/memory_bound.py --requests 200000

Requests of the returning visitor (``visitor.py``) run through the ASGI
middleware as fast as one thread can drive it, each with its own scope and
header list as a server would build them, while the tracker's sink is down:

- failing: every ``write()`` raises (a full disk, a refused connection);
  the worker keeps draining, so the queue should stay short;
- stalled: ``write()`` blocks (a hung network peer) until the run ends;
  the queue fills to ``queue_size`` and the overflow policy must hold it.

The resident set size is sampled every 10,000 requests; the peak over the
first half of the run is printed too, to show it levels off. The bound is what
``queue_size`` implies: the RSS before the load plus (``queue_size`` + one
batch in the worker's hands) records, at the bytes one queued record keeps
alive (measured here: the record and the request's header list it
references). Peak RSS must stay under that bound plus a fixed 16 MiB for
allocator slack and the logging of drops.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import threading
import tracemalloc
from typing import Any

import machine
from inprocess import asgi_requests, asgi_scope, captured_records

import sstrack
from sstrack.asgi import TrackingMiddleware
from sstrack.dispatcher import Dispatcher
from sstrack.sinks.base import Batch

MIB = 1 << 20
SLACK = 16 * MIB
SAMPLE_EVERY = 10_000


class DownSink:
    """A sink that is down: ``write()`` raises, or first blocks until released."""

    def __init__(self, stall: threading.Event | None) -> None:
        self.name = "down:" + ("stalled" if stall else "failing")
        self._stall = stall

    def open(self) -> None:
        pass

    def write(self, batch: Batch) -> None:
        if self._stall is not None:
            self._stall.wait(600.0)
        raise OSError("sink is down")

    def flush(self, timeout: float) -> None:
        pass

    def close(self, timeout: float) -> None:
        pass


def rss() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def bytes_per_record(n: int = 10_000) -> float:
    """Memory one queued record keeps alive: itself and what it references."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    records = captured_records(n, fresh=True)
    size = (tracemalloc.get_traced_memory()[0] - before) / len(records)
    tracemalloc.stop()
    return size


def scenario(stalled: bool, requests: int) -> dict[str, Any]:
    tracker = sstrack.runtime.current()
    config = tracker.config
    stall = threading.Event() if stalled else None
    down = DownSink(stall)
    # The tracker's own dispatcher, same settings, with a sink that is down.
    tracker.dispatcher = Dispatcher(lambda: [down], tracker._process,
                                    queue_size=config.queue_size,
                                    drop_newest=config.queue_full == "drop_newest",
                                    batch_size=config.batch_size,
                                    flush_interval=config.flush_interval)
    app = TrackingMiddleware(_hello)
    gc.collect()
    baseline = peak = rss()
    done = 0
    half = 0  # the peak over the first half: equal to the final peak once RSS has levelled off
    while done < requests:
        chunk = min(SAMPLE_EVERY, requests - done)
        asgi_requests(app, asgi_scope(True), chunk, fresh=True)  # cookie stamped per chunk
        done += chunk
        peak = max(peak, rss())
        if done <= requests // 2:
            half = peak
    stats = tracker.dispatcher.stats()
    if stall is not None:
        stall.set()
    tracker.dispatcher.shutdown(30.0)
    return {"sink": down.name, "baseline": baseline, "half": half, "peak": peak, "stats": stats}


async def _hello(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"Hello, world!"})


def run_scenario(name: str, requests: int) -> None:
    """One scenario in this process, reported as one JSON line."""
    with tempfile.TemporaryDirectory(prefix="sstrack-memory-") as tmp:
        config = sstrack.configure(sinks=f"jsonl:{tmp}")  # replaced by a sink that is down
        result = scenario(name == "stalled", requests)
        per_record = bytes_per_record()  # after the run, so the baseline is a clean heap
    in_memory = (config.queue_size + config.batch_size) * per_record
    limits = {"queue_size": config.queue_size, "batch_size": config.batch_size,
              "queue_full": config.queue_full, "per_record": per_record,
              "bound": result["baseline"] + in_memory + SLACK}
    print(json.dumps({**result, **limits}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--scenario", choices=("failing", "stalled"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.scenario:
        run_scenario(args.scenario, args.requests)
        return 0
    print(machine.describe())
    results = []
    for name in ("failing", "stalled"):  # each in a fresh process, so neither inherits a heap
        out = subprocess.run([sys.executable, __file__, "--scenario", name,
                              "--requests", str(args.requests)],
                             capture_output=True, text=True, check=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    first = results[0]
    print(f"{args.requests:,} requests per scenario; queue_size {first['queue_size']:,}, "
          f"batch_size {first['batch_size']}, {first['queue_full']}; one queued record keeps "
          f"{first['per_record'] / 1024:.1f} KiB alive (the record and the request's header "
          f"list), so the queue may hold "
          f"{(first['queue_size'] + first['batch_size']) * first['per_record'] / MIB:.1f} MiB\n")
    print("| sink | RSS before MiB | peak RSS, first half MiB | peak RSS MiB | bound MiB | within "
          "| written (stats) | dropped: queue_full | dropped: sink_error |\n"
          "|---|---:|---:|---:|---:|---|---:|---:|---:|")
    for r in results:
        dropped = r["stats"]["dropped"]
        print(f"| {r['sink']} | {r['baseline'] / MIB:.0f} | {r['half'] / MIB:.0f} "
              f"| {r['peak'] / MIB:.0f} "
              f"| {r['bound'] / MIB:.0f} | {'yes' if r['peak'] <= r['bound'] else 'NO'} "
              f"| {r['stats']['written']} | {dropped.get('queue_full', 0):,} "
              f"| {dropped.get('sink_error', 0):,} |")
    unbounded = args.requests * first["per_record"] / MIB
    met = all(r["peak"] <= r["bound"] for r in results)
    levelled = all(r["peak"] <= r["half"] * 1.05 for r in results)
    print(f"\nRSS levelled off (peak within 5% of the first half's): "
          f"{'yes' if levelled else 'NO'}. Without any bound, {args.requests:,} queued "
          f"records would hold {unbounded:,.0f} MiB.")
    print(f"Target (issue 7): RSS within the documented bound while the sink is down -> "
          f"{'MET' if met else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
