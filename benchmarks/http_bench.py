"""Hello-world apps over real HTTP: bare, with sstrack, and with peers, side by side.

Usage::

    python benchmarks/http_bench.py --quick   # about 3 minutes: uvicorn + gunicorn sync, 3 rounds
    python benchmarks/http_bench.py           # about 12 minutes: + gunicorn gthread, 5 rounds

In each round, every variant of every server gets a fresh server process on
127.0.0.1, a warm-up, then ``wrk -t1 -c32`` for a fixed time with a returning
visitor's browser headers and cookies (``visitor.py``; sstrack's cookie
stamped at the start of each run so no Set-Cookie is due). Variants of one
server run back to back, in an order that rotates between rounds, so slow
drift in the machine's load hits all of them alike. Per variant it prints
the median requests/s, the median per-round ratio to the bare app of the same
round (with its range, the noise), p50/p99 latency, server CPU µs per
request (utime+stime of the server's process tree from /proc, the tracker's
background threads included) and the ratio it implies (bare CPU / variant
CPU: steadier than throughput when other work shares the machine), context
switches per request, and how many requests the tracker captured, as the
app itself counts them, over the requests wrk completed (it can exceed 1 by
the requests still in flight when wrk stops); then the targets of issue 7,
each marked met or missed.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import machine
import visitor

HOST = "127.0.0.1"
APPS = Path(__file__).resolve().parent / "apps"
VARIANTS = ("bare", "sstrack", "apitally", "moesif", "sentry")
SERVERS = ("uvicorn", "gunicorn-sync", "gunicorn-gthread")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
START_TIMEOUT = 30.0
STOP_GRACE = 5.0  # moesif retries its closed port with backoff for ~10 s at exit; not our concern

# wrk reports through this script: one JSON line instead of its text table.
WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "errors": %d, '
    .. '"non_2xx": %d}\\n', summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(99), e.connect + e.read + e.write + e.timeout, e.status))
end
"""


@dataclass
class Run:
    """One measured load test of one variant."""

    server: str
    variant: str
    round: int
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float  # server CPU per request
    switches: float  # context switches per request, all server threads
    errors: int
    sent: int  # every request the app saw: probes, warm-up and measured
    captured: int  # what the tracker says it captured (-1: no tracker)


def server_command(server: str, variant: str, port: int, uvicorn_http: str) -> list[str]:
    factory = "bare" if variant == "bare" else f"with_{variant}"
    if server == "uvicorn":
        return [sys.executable, "-m", "uvicorn", "--factory", "--app-dir", str(APPS),
                f"starlette_hello:{factory}", "--host", HOST, "--port", str(port),
                "--http", uvicorn_http, "--log-level", "warning", "--no-access-log"]
    command = [sys.executable, "-m", "gunicorn", "--pythonpath", str(APPS),
               "--bind", f"{HOST}:{port}", "--workers", "1", "--log-level", "warning",
               *_no_control_socket()]
    if server == "gunicorn-gthread":
        command += ["--worker-class", "gthread", "--threads", "4"]
    return [*command, f"flask_hello:{factory}()"]


def _no_control_socket() -> list[str]:
    # gunicorn 25+ opens a control socket per user in ~/.gunicorn that
    # concurrent servers (ours, the test suite's) would fight over.
    from gunicorn.config import KNOWN_SETTINGS

    has_flag = any("--no-control-socket" in (s.cli or ()) for s in KNOWN_SETTINGS)
    return ["--no-control-socket"] if has_flag else []


def server_env(workdir: Path, name: str) -> dict[str, str]:
    """The environment minus anything that could redirect a tracker, plus our sink."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SSTRACK_", "SENTRY_", "APITALLY_", "MOESIF_", "OTEL_"))
           and k != "PYTEST_CURRENT_TEST"}  # apitally stays inactive under pytest
    env["SSTRACK_SINKS"] = f"jsonl:{workdir / 'events' / name}"
    env["TMPDIR"] = str(workdir / "tmp")  # apitally spools its batches to temporary files
    return env


# -- the server process tree ---------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (gunicorn: the master and its worker)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii") as stat:
                    ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += parents.get(current, [])
    return tree


def tree_usage(pids: Sequence[int]) -> tuple[float, int]:
    """CPU seconds (user + system, all threads) and context switches of these processes."""
    ticks = switches = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/status", encoding="ascii") as status:
                    for line in status:
                        if "ctxt_switches:" in line:  # voluntary and nonvoluntary
                            switches += int(line.split()[1])
        except (OSError, IndexError, ValueError):
            continue  # a thread or process that just ended
    return ticks / CLOCK_TICKS, switches


# -- starting, probing and stopping --------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def get(port: int, path: str, timeout: float = 10.0) -> tuple[int, str]:
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def wait_ready(process: subprocess.Popen[bytes], port: int) -> int:
    """Poll until the app answers; returns how many requests reached it."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if get(port, visitor.PATH, timeout=2.0)[0] == 200:
                return 1
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not answer in time")


def stop(process: subprocess.Popen[bytes], server: str) -> None:
    """Stop by PID as a process manager would; kill what is left after a grace period."""
    pids = process_tree(process.pid)
    # uvicorn re-raises SIGTERM after its graceful shutdown, which skips
    # atexit hooks; SIGINT ends in KeyboardInterrupt, which runs them.
    process.send_signal(signal.SIGINT if server == "uvicorn" else signal.SIGTERM)
    try:
        process.wait(STOP_GRACE)
        return
    except subprocess.TimeoutExpired:
        pass
    for pid in reversed(pids):
        if _is_our_server(pid):  # never a PID that was reused by someone else
            os.kill(pid, signal.SIGKILL)
    process.wait()


def _is_our_server(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return str(APPS).encode() in cmdline.read()
    except OSError:
        return False


# -- load ----------------------------------------------------------------------


def wrk(port: int, seconds: int, script: Path, connections: int) -> dict[str, int]:
    """Run wrk against the app with a returning visitor's headers, stamped now."""
    headers = [arg for name, value in visitor.browser_headers(returning=True)
               for arg in ("-H", f"{name}: {value}")]
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
               "-s", str(script), *headers, f"http://{HOST}:{port}{visitor.PATH}"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    for line in out.stdout.splitlines():
        if line.startswith("WRK "):
            return dict(json.loads(line[4:]))
    raise RuntimeError(f"wrk failed: {out.stderr.strip() or out.stdout.strip()}")


def measure(server: str, variant: str, round_: int, args: argparse.Namespace,
            workdir: Path) -> Run:
    port = free_port()
    name = f"{server}-{variant}-{round_}"
    log = (workdir / "logs" / f"{name}.log").open("wb")
    process = subprocess.Popen(server_command(server, variant, port, args.uvicorn_http),
                               stdout=log, stderr=subprocess.STDOUT, cwd=workdir,
                               env=server_env(workdir, name))
    try:
        sent = wait_ready(process, port)
        warm = wrk(port, args.warmup, workdir / "report.lua", args.connections)
        pids = process_tree(process.pid)
        cpu_before, switches_before = tree_usage(pids)
        result = wrk(port, args.duration, workdir / "report.lua", args.connections)
        cpu_after, switches_after = tree_usage(pids)
        sent += warm["requests"] + result["requests"]
        captured = int(get(port, "/_captured", timeout=30.0)[1])
    except Exception as exc:
        raise RuntimeError(f"{name}: {exc} (log: {log.name})") from exc
    finally:
        stop(process, server)
        log.close()
    requests = max(result["requests"], 1)
    return Run(server, variant, round_, requests / (result["duration_us"] / 1e6),
               result["p50_us"] / 1000, result["p99_us"] / 1000,
               (cpu_after - cpu_before) / requests * 1e6,
               (switches_after - switches_before) / requests,
               result["errors"], sent, captured)


# -- summary -------------------------------------------------------------------


@dataclass
class Summary:
    rps: float
    ratio: float  # median over rounds of variant / bare of the same round
    ratio_low: float
    ratio_high: float
    p50_ms: float
    p99_ms: float
    p99_ratio: float
    cpu_us: float
    cpu_ratio: float  # median over rounds of bare CPU/request / variant CPU/request
    switches: float
    captured: str


def per_round_ratios(runs: list[Run], server: str, variant: str, base: str,
                     field: str = "rps") -> list[float]:
    by_round = {(r.variant, r.round): getattr(r, field) for r in runs if r.server == server}
    return [value / by_round[(base, rnd)] for (v, rnd), value in by_round.items()
            if v == variant and (base, rnd) in by_round and by_round[(base, rnd)] > 0]


def summarise(runs: list[Run], server: str, variant: str) -> Summary | None:
    mine = [r for r in runs if r.server == server and r.variant == variant]
    if not mine:
        return None
    ratios = per_round_ratios(runs, server, variant, "bare") or [float("nan")]
    p99_ratios = per_round_ratios(runs, server, variant, "bare", "p99_ms") or [float("nan")]
    cpu_ratios = [1 / r for r in per_round_ratios(runs, server, variant, "bare", "cpu_us")
                  if r > 0] or [float("nan")]
    tracked = [r for r in mine if r.captured >= 0]
    captured = (f"{sum(r.captured for r in tracked) / sum(r.sent for r in tracked):.2f}"
                if tracked else "-")
    median = statistics.median
    return Summary(median(r.rps for r in mine), median(ratios), min(ratios), max(ratios),
                   median(r.p50_ms for r in mine), median(r.p99_ms for r in mine),
                   median(p99_ratios), median(r.cpu_us for r in mine), median(cpu_ratios),
                   median(r.switches for r in mine), captured)


def table(runs: list[Run], servers: Sequence[str], variants: Sequence[str]) -> str:
    lines = ["| server | variant | req/s | ratio to bare (range) | p50 ms | p99 ms | p99 / bare "
             "| CPU µs/req | CPU ratio | ctx sw/req | captured/sent |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for server in servers:
        for variant in variants:
            s = summarise(runs, server, variant)
            if s is not None:
                lines.append(
                    f"| {server} | {variant} | {s.rps:,.0f} | {s.ratio:.3f} "
                    f"({s.ratio_low:.2f}-{s.ratio_high:.2f}) | {s.p50_ms:.2f} | {s.p99_ms:.2f} "
                    f"| {s.p99_ratio:.2f} | {s.cpu_us:,.0f} | {s.cpu_ratio:.3f} "
                    f"| {s.switches:.3f} | {s.captured} |")
    return "\n".join(lines)


def targets(runs: list[Run]) -> list[str]:
    """Issue 7's targets, each with the figure measured in this run."""
    checks = []

    def cpu_ratios(server: str, variant: str, base: str) -> list[float]:
        return [1 / r for r in per_round_ratios(runs, server, variant, base, "cpu_us") if r > 0]

    def check(label: str, values: list[float], goal: float, higher: bool = True,
              cpu: list[float] | None = None) -> None:
        if not values:
            checks.append(f"- {label}: not measured in this run")
            return
        value = statistics.median(values)
        met = value >= goal if higher else value <= goal
        line = (f"- {label}: {value:.3f} (target {'>=' if higher else '<='} {goal}) -> "
                f"{'MET' if met else 'MISSED'}")
        if min(values) < goal < max(values):
            line += f" (but rounds ranged {min(values):.2f}-{max(values):.2f}: too noisy to tell)"
        if cpu:
            line += f"; from CPU per request: {statistics.median(cpu):.3f}"
        checks.append(line)

    check("uvicorn: sstrack / bare throughput",
          per_round_ratios(runs, "uvicorn", "sstrack", "bare"), 0.80,
          cpu=cpu_ratios("uvicorn", "sstrack", "bare"))
    check("uvicorn: sstrack p99 / bare p99",
          per_round_ratios(runs, "uvicorn", "sstrack", "bare", "p99_ms"), 1.5, higher=False)
    check("gunicorn sync: sstrack / bare throughput",
          per_round_ratios(runs, "gunicorn-sync", "sstrack", "bare"), 0.97,
          cpu=cpu_ratios("gunicorn-sync", "sstrack", "bare"))
    for peer in ("apitally", "moesif"):
        check(f"uvicorn: sstrack / {peer} throughput",
              per_round_ratios(runs, "uvicorn", "sstrack", peer), 8.0,
              cpu=cpu_ratios("uvicorn", "sstrack", peer))
    for server in ("gunicorn-sync", "gunicorn-gthread"):
        for peer in ("apitally", "moesif"):
            factors = per_round_ratios(runs, server, "sstrack", peer)
            if factors:
                checks.append(f"- {server}: sstrack / {peer} throughput: "
                              f"{statistics.median(factors):.2f} (for information; the 8x "
                              "target is read against the uvicorn figures)")
    return checks


# -- main ----------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true",
                        help="3 rounds of 2 s on uvicorn and gunicorn sync (about 3 minutes)")
    parser.add_argument("--rounds", type=int, help="rounds (default 5, quick 3)")
    # wrk takes whole seconds only
    parser.add_argument("--duration", type=int, help="measured seconds per run (5, quick 2)")
    parser.add_argument("--warmup", type=int, help="warm-up seconds per run (2, quick 1)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument("--servers", nargs="+", choices=SERVERS, help="servers to run")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, help="variants (bare always)")
    parser.add_argument("--uvicorn-http", default="auto", choices=("auto", "h11", "httptools"),
                        help="uvicorn's HTTP implementation (auto: httptools if installed)")
    parser.add_argument("--json", type=Path, help="also write every run to this file")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (3 if args.quick else 5)
    args.duration = args.duration or (2 if args.quick else 5)
    args.warmup = args.warmup or (1 if args.quick else 2)
    args.servers = args.servers or (SERVERS[:2] if args.quick else SERVERS)
    args.variants = ["bare", *[v for v in (args.variants or VARIANTS) if v != "bare"]]
    if args.uvicorn_http == "auto":  # say which one, as uvicorn would pick it
        args.uvicorn_http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return args


def port_is_closed(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((HOST, port)) != 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not port_is_closed(9):
        print("127.0.0.1:9 accepts connections; the peers would send to it. Stopping.")
        return 2
    print(machine.describe(wrk=True))
    print(f"rounds {args.rounds}, wrk -t1 -c{args.connections} -d{args.duration:g}s after "
          f"{args.warmup:g}s warm-up, uvicorn --http {args.uvicorn_http}, GET {visitor.PATH}\n")
    runs: list[Run] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sstrack-http-bench-") as tmp:
        workdir = Path(tmp)
        for sub in ("logs", "events", "tmp"):
            (workdir / sub).mkdir()
        (workdir / "report.lua").write_text(WRK_SCRIPT, encoding="utf-8")
        for round_ in range(args.rounds):
            for i in range(len(args.servers)):
                server = args.servers[(i + round_) % len(args.servers)]
                order = args.variants[round_ % len(args.variants):] + \
                    args.variants[:round_ % len(args.variants)]
                for variant in order:
                    try:
                        run = measure(server, variant, round_, args, workdir)
                    except RuntimeError as exc:
                        print(f"  skipped: {exc}")
                        continue
                    runs.append(run)
                    print(f"  round {round_ + 1}/{args.rounds} {server:16} {variant:8} "
                          f"{run.rps:8,.0f} req/s  p99 {run.p99_ms:6.2f} ms  "
                          f"{run.cpu_us:6,.0f} CPU µs/req  errors {run.errors}", flush=True)
    print(f"\n{table(runs, args.servers, args.variants)}\n")
    print("Targets (issue 7), medians of per-round ratios:")
    print("\n".join(targets(runs)))
    print(f"\n{time.monotonic() - started:.0f} s; load average at the end "
          f"{machine.load_average()}")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in runs], indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
