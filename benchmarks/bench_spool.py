"""Events per second appended to the disk spool, for each fsync policy.

The lane spools one round per ``append`` (everything it could not send, one
``write()``), so the cost depends on the round size as much as the policy:
this measures rounds of 1, 32 and 512 events of a realistic event line
(~0.9 KiB) for ``never``, ``1000`` ms, ``100`` ms and ``always``, each for
about two seconds, in a fresh temporary directory on the disk under
``--dir`` (default: the system temp dir). Usage::

    python benchmarks/bench_spool.py [--dir /var/tmp] [--seconds 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.machine import describe
from sstrack.spool import Spool

__all__ = ["measure"]

EVENT = orjson.dumps({
    "schema": "sstrack.event/1", "event_id": "01a20214-2bab-7bc5-ab91-8b05f3f19a23",
    "event": "request", "timestamp": "2026-11-22T07:06:46.059Z",
    "visitor_id": "a4afc557-32f9-4565-afee-9b9d3c32394a",
    "session_id": "2dea6d5e-20c0-4d16-943f-8d5feb79f7c6", "session_index": 1,
    "user_id": None, "method": "GET", "scheme": "https", "host": "shop.example",
    "path": "/products", "route": "/products",
    "query": [{"param": "utm_source", "value": "newsletter"}, {"param": "id", "value": "7"}],
    "url": "https://shop.example/products?utm_source=newsletter&id=7",
    "referrer": "https://www.google.com/",
    "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
                  "(KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "language": "de", "ip": "203.0.113.0", "status": 200, "response_bytes": 5120,
    "duration_ms": 1.258, "outcome": "completed", "stitch": {}, "properties": {}})


def measure(root: str, policy: str, round_events: int, seconds: float) -> tuple[float, int]:
    """Events/s appended with ``policy`` in rounds of ``round_events``; and fsyncs made."""
    spool = Spool(root, f"bench:{policy}:{round_events}", max_bytes=1 << 40, fsync=policy)
    spool.open()
    lines = [EVENT] * round_events
    appended, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        appended += spool.append(lines)
        due = spool.next_sync_at()  # what the lane's thread does between rounds
        if due is not None and due <= time.monotonic():
            spool.sync()
    spool.close()
    return appended / elapsed, spool.fsyncs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", default=tempfile.gettempdir())
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    print(describe())
    print(f"event line: {len(EVENT)} bytes; directory: {args.dir}\n")
    print("| fsync | events per append | events/s | MiB/s | fsyncs/s |")
    print("|---|---:|---:|---:|---:|")
    for policy in ("never", "1000", "100", "always"):
        for round_events in (1, 32, 512):
            with tempfile.TemporaryDirectory(dir=args.dir) as root:
                rate, fsyncs = measure(root, policy, round_events, args.seconds)
            mib = rate * (len(EVENT) + 1) / (1 << 20)
            print(f"| {policy} | {round_events} | {rate:,.0f} | {mib:,.1f} | "
                  f"{fsyncs / args.seconds:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
