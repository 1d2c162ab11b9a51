"""sstrack's CPU cost per request and per event, in-process, side by side with the bare app.

Usage::

    python benchmarks/micro.py            # about 1 minute
    python benchmarks/micro.py --profile  # and cProfile's top functions of the tracked arm

Request path: the ASGI and WSGI middlewares are driven directly (no server,
no event loop: nothing awaits, so a coroutine runs to its end on ``send``)
around a trivial hello-world app, with the browser headers of ``visitor.py``:
a returning visitor (10 cookies, sstrack's pair fresh, so no Set-Cookie) and
a new visitor (no cookies: two new ids and two Set-Cookie headers). Each arm
handles N requests; the bare app's arm runs in the same round, and rounds
alternate the order. "Request path" is the calling thread's CPU time
(``time.thread_time``); "with background" is the whole process's CPU time
(``time.process_time``) up to the end of ``sstrack.flush()``, so it includes
the worker thread building, encoding and writing every event to the default
JSON-lines sink (its queue sized to hold a whole arm, so no event is
dropped). Added cost = tracked minus bare, per request.

Background, per event: ``RequestRecord.to_event``, ``encode`` (orjson) and
``JsonlSink.write`` of a 512-event batch, each timed alone.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from typing import Any

import machine
from inprocess import (
    asgi_hello,
    asgi_requests,
    asgi_scope,
    captured_records,
    receive,
    run_to_end,
    wsgi_environ,
    wsgi_hello,
    wsgi_requests,
)

import sstrack
from sstrack.asgi import TrackingMiddleware as AsgiTracking
from sstrack.dispatcher import encode
from sstrack.sinks.base import Batch
from sstrack.sinks.jsonl import JsonlSink
from sstrack.wsgi import TrackingMiddleware as WsgiTracking

TARGET_US = 8.0


# -- timing ------------------------------------------------------------------------


def timed(run: Callable[[], None], n: int) -> tuple[float, float]:
    """(request-path µs, with-background µs) per request for ``n`` requests."""
    process_start, thread_start = time.process_time(), time.thread_time()
    run()
    thread_end = time.thread_time()
    sstrack.flush(30.0)  # the worker's share: building, encoding, writing these events
    process_end = time.process_time()
    return (thread_end - thread_start) / n * 1e6, (process_end - process_start) / n * 1e6


def request_arms(n: int) -> dict[str, tuple[Callable[[], None], Callable[[], None]]]:
    """For each case: (bare, tracked) runs of ``n`` requests."""
    asgi_tracked, wsgi_tracked = AsgiTracking(asgi_hello), WsgiTracking(wsgi_hello)

    def asgi(returning: bool) -> tuple[Callable[[], None], Callable[[], None]]:
        def bare() -> None:
            asgi_requests(asgi_hello, asgi_scope(returning), n)

        def tracked() -> None:
            # The scope is built per run: sst_ses must be stamped within the last minute.
            asgi_requests(asgi_tracked, asgi_scope(returning), n)

        return bare, tracked

    def wsgi(returning: bool) -> tuple[Callable[[], None], Callable[[], None]]:
        def bare() -> None:
            wsgi_requests(wsgi_hello, wsgi_environ(returning), n)

        def tracked() -> None:
            wsgi_requests(wsgi_tracked, wsgi_environ(returning), n)

        return bare, tracked

    return {"ASGI returning visitor": asgi(True), "ASGI new visitor": asgi(False),
            "WSGI returning visitor": wsgi(True), "WSGI new visitor": wsgi(False)}


def measure_requests(rounds: int, n: int) -> dict[str, dict[str, list[float]]]:
    results: dict[str, dict[str, list[float]]] = {}
    arms = request_arms(n)
    for round_ in range(rounds):
        for case, (bare, tracked) in arms.items():
            rows = results.setdefault(case, {"bare": [], "path": [], "total": []})
            pair = [("bare", bare), ("tracked", tracked)]
            for name, run in pair if round_ % 2 == 0 else reversed(pair):
                path_us, total_us = timed(run, n)
                if name == "bare":
                    rows["bare"].append(total_us)
                else:
                    rows["path"].append(path_us)
                    rows["total"].append(total_us)
    return results


def per_item_us(call: Callable[[Any], object], items: list[Any]) -> float:
    start = time.process_time()
    for item in items:
        call(item)
    return (time.process_time() - start) / len(items) * 1e6


def background_costs(directory: str, n: int, rounds: int) -> dict[str, float]:
    """Median µs per event of each background step, on fresh records of the returning visitor.

    Records are fresh each round because a record caches what it computed
    for its first event; the worker builds each record's event once.
    """
    # What the dispatcher calls for each record (``RequestRecord.to_event`` with
    # the tracker's settings); private, but it is exactly the worker's step.
    process = sstrack.runtime.current()._process
    sink = JsonlSink(directory)
    sink.open()
    samples: dict[str, list[float]] = {}
    for _ in range(rounds):
        records = captured_records(n)
        events = [process(record) for record in records[:1]]  # warm any lazy state
        start = time.process_time()
        events = [process(record) for record in records]
        build = (time.process_time() - start) / n * 1e6
        lines = [encode(event) for event in events]
        batches = [Batch(events[i:i + 512], lines[i:i + 512]) for i in range(0, n, 512)]
        row = {"RequestRecord.to_event (the tracker's process step)": build,
               "encode (orjson)": per_item_us(encode, events),
               "JsonlSink.write, 512-event batches, per event":
                   per_item_us(sink.write, batches) * len(batches) / n}
        for step, cost in row.items():
            samples.setdefault(step, []).append(cost)
    sink.close(1.0)
    costs = {step: statistics.median(values) for step, values in samples.items()}
    costs["sum of the background steps"] = sum(costs.values())
    return costs


# -- report ------------------------------------------------------------------------


def report(requests: dict[str, dict[str, list[float]]], background: dict[str, float]) -> None:
    median = statistics.median
    print("| case | bare µs/req | added: request path µs | added: with background µs "
          "| range of added (rounds) |")
    print("|---|---:|---:|---:|---:|")
    for case, rows in requests.items():
        bare = median(rows["bare"])
        added = [t - b for t, b in zip(rows["total"], rows["bare"], strict=True)]
        print(f"| {case} | {bare:.1f} | {median(rows['path']) - bare:.2f} "
              f"| {median(added):.2f} | {min(added):.2f} to {max(added):.2f} |")
    print("\n| background step | µs per event |\n|---|---:|")
    for step, cost in background.items():
        print(f"| {step} | {cost:.2f} |")
    rows = requests["ASGI returning visitor"]
    added = median(t - b for t, b in zip(rows["total"], rows["bare"], strict=True))
    verdict = "MET" if added <= TARGET_US else "MISSED"
    print(f"\nTarget (issue 7): added CPU per tracked request, request path plus background, "
          f"ASGI returning visitor: {added:.2f} µs (target <= {TARGET_US:g}) -> {verdict}")
    wsgi = requests["WSGI returning visitor"]
    added = median(t - b for t, b in zip(wsgi["total"], wsgi["bare"], strict=True))
    verdict = "MET" if added <= TARGET_US else "MISSED"
    print(f"Same, WSGI returning visitor: {added:.2f} µs (target <= {TARGET_US:g}) -> {verdict}")


def profile_tracked(n: int) -> None:
    """cProfile's view of the tracked ASGI arm (deterministic: it inflates small calls)."""
    _, tracked = request_arms(n)["ASGI returning visitor"]
    profiler = cProfile.Profile()
    profiler.enable()
    tracked()
    sstrack.flush(30.0)
    profiler.disable()
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(15)


def check_common_path() -> None:
    """The returning visitor must take the path with no Set-Cookie, or we measure the wrong one."""
    headers: list[Iterable[tuple[bytes, bytes]]] = []

    async def capture(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            headers.append(message["headers"])

    run_to_end(AsgiTracking(asgi_hello)(asgi_scope(True), receive, capture))
    if any(name == b"set-cookie" for name, _ in headers[0]):
        raise SystemExit("the returning visitor got a Set-Cookie: visitor.py is out of date")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=20_000, help="requests per arm")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sstrack-micro-") as directory:
        # The default sink, in a temporary directory. The queue holds a whole arm:
        # the worker is slower than the request path, and an event dropped on
        # overflow would hide its share of background work from the total.
        sstrack.configure(sinks=f"jsonl:{directory}/events", queue_size=args.requests + 10)
        check_common_path()
        print(machine.describe())
        print(f"{args.rounds} rounds of {args.requests:,} requests per arm; medians\n")
        requests = measure_requests(args.rounds, args.requests)
        background = background_costs(f"{directory}/bench", args.requests, args.rounds)
        report(requests, background)
        stats = sstrack.stats()
        print(f"\nsstrack.stats(): {stats}")
        if any(stats["dropped"].values()):
            print("WARNING: events were dropped, so 'with background' is too low")
        if args.profile:
            profile_tracked(args.requests)
        sstrack.shutdown(10.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
