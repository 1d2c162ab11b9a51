"""User-agent enrichment cost: sstrack vs ``user_agents.parse``, side by side in one run.

Usage::

    pip install fake-useragent  # ~840 real browser user agents
    python benchmarks/bench_useragent.py [--rounds 7] [--corpus all|browsers|crawlers]

The corpus is every distinct user agent of ``fake-useragent``'s real-world browser
data plus the examples of ``crawler-user-agents`` (or either alone). In each round every side parses
the whole corpus once with empty caches ("cold": every user agent unseen by the
caches; the regex engines are warmed up, as in a running process), then the 100
first user agents 100 times each ("warm"); the order of the sides rotates from
round to round so that drift in the machine's load is shared alike. The reference produces
the same fields: browser/OS/device families, versions and the four ``is_*``
properties that decide ``device_type``. Medians over rounds are printed in µs per
user agent, with the ratio user_agents / sstrack, and whether the target of issue 7
(cold >= 20x) is met. Classification agreement on the corpus is printed too.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.metadata
import json
import os
import platform
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import crawleruseragents  # type: ignore[import-untyped]
import user_agents  # type: ignore[import-untyped]
from ua_parser import user_agent_parser

from sstrack.enrich.bots import BotDetector
from sstrack.enrich.useragent import UserAgentParser

__all__ = ["load_corpus", "main"]

TARGET_COLD_RATIO = 20.0
PACKAGES = (
    "ua-parser",
    "ua-parser-rs",
    "ua-parser-builtins",
    "user-agents",
    "crawler-user-agents",
    "fake-useragent",
)


def load_corpus(kind: str = "all") -> list[str]:
    """Distinct real user agents: browsers (if fake-useragent is installed), crawlers or both."""
    uas: list[str] = []
    if kind in ("all", "browsers"):
        try:
            import fake_useragent

            data = Path(fake_useragent.__file__).parent / "data" / "browsers.jsonl"
            uas += [json.loads(line)["useragent"] for line in data.read_text().splitlines()]
        except ImportError:
            sys.exit("fake-useragent is not installed: pip install fake-useragent")
    if kind in ("all", "crawlers"):
        for entry in crawleruseragents.CRAWLER_USER_AGENTS_DATA:
            uas += entry["instances"]
    return list(dict.fromkeys(uas))


def reference(ua: str) -> tuple[object, ...]:
    """What it takes to get sstrack's fields out of user_agents."""
    parsed = user_agents.parse(ua)
    if parsed.is_bot:
        device_type = "bot"
    elif parsed.is_tablet:
        device_type = "tablet"
    elif parsed.is_mobile:
        device_type = "mobile"
    elif parsed.is_pc:
        device_type = "desktop"
    else:
        device_type = "other"
    return parsed.browser, parsed.os, parsed.device, device_type


def _time_ns(fn: Callable[[str], object], uas: list[str]) -> int:
    start = time.thread_time_ns()
    for ua in uas:
        fn(ua)
    return time.thread_time_ns() - start


def _rotation(names: list[str], shift: int) -> list[str]:
    # Rotating the order from round to round shares drift in load alike.
    shift %= len(names)
    return names[shift:] + names[:shift]


def _cpu_us_per_call(fn: Callable[[str], object], uas: list[str]) -> float:
    """CPU time of the calling thread, so that other processes' load does not count.

    Each side runs a whole block, as a worker working through a backlog would: a
    call-by-call interleave would instead measure how user_agents' thousands of
    Python regexes evict the Rust engine's automata from the CPU caches.
    """
    gc.collect()
    gc.disable()
    try:
        return _time_ns(fn, uas) / len(uas) / 1000
    finally:
        gc.enable()


class Enricher:
    """sstrack's user-agent enrichment as the worker runs it: parse, then is_bot.

    Built once and reused, like the process-wide parser and detector: a new
    detector would also pay for warming its regex automata up.
    """

    def __init__(self, cache_size: int) -> None:
        self.parser = UserAgentParser(cache_size=cache_size)
        self.detector = BotDetector(parser=self.parser, cache_size=cache_size)
        self.detector.is_bot("warm-up: build the pattern set")

    def parse(self, ua: str) -> object:
        return self.parser.parse(ua)

    def enrich(self, ua: str) -> object:
        return self.parser.parse(ua), self.detector.is_bot(ua)

    def clear(self) -> None:
        self.parser.cache_clear()
        self.detector.cache_clear()


def _reference_cold(ua: str) -> object:
    user_agent_parser._PARSE_CACHE.clear()  # user_agents' own 200-entry cache
    return reference(ua)


def measure_round(
    ours: Enricher, corpus: list[str], popular: list[str], shift: int
) -> dict[str, float]:
    """Time every side on the whole corpus cold, then on popular user agents warm."""
    cold = {
        "sstrack cold": ours.parse,
        "sstrack+bots cold": ours.enrich,
        "user_agents cold": _reference_cold,
    }
    warm = {
        "sstrack warm": ours.parse,
        "sstrack+bots warm": ours.enrich,
        "user_agents warm": reference,  # popular fits its 200-entry cache
    }
    results = {}
    for sides, uas in ((cold, corpus), (warm, popular * 100)):
        for name in _rotation(list(sides), shift):
            ours.clear()  # every side starts from empty caches...
            user_agent_parser._PARSE_CACHE.clear()
            if uas is not corpus:  # ...warm ones primed with the popular user agents
                for ua in popular:
                    sides[name](ua)
            results[name] = _cpu_us_per_call(sides[name], uas)
    return results


def disagreements(corpus: list[str]) -> Counter[tuple[str, str]]:
    """Count (sstrack, user_agents) device_type pairs where the two differ."""
    parser = UserAgentParser(cache_size=0)
    pairs = ((str(parser.parse(ua)["device_type"]), str(reference(ua)[3])) for ua in corpus)
    return Counter((ours, theirs) for ours, theirs in pairs if ours != theirs)


def versions() -> str:
    found = []
    for name in PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found.append(f"{name} {importlib.metadata.version(name)}")
    return ", ".join(found)


def main() -> None:
    """Run the benchmark and print the report."""
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--rounds", type=int, default=7)
    args.add_argument("--corpus", choices=("all", "browsers", "crawlers"), default="all")
    options = args.parse_args()
    rounds = options.rounds

    corpus = load_corpus(options.corpus)
    popular = corpus[:100]
    UserAgentParser().parse(corpus[0])  # build the Rust resolver outside the timings
    reference(corpus[0])

    ours = Enricher(cache_size=len(corpus) + 1)
    runs = [measure_round(ours, corpus, popular, shift) for shift in range(rounds)]
    median = {name: statistics.median(run[name] for run in runs) for name in runs[0]}

    print(f"# user-agent enrichment, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"# {platform.python_implementation()} {platform.python_version()}, ", end="")
    print(f"{platform.machine()}, {os.cpu_count()} CPUs; {versions()}")
    print(f"# corpus ({options.corpus}): {len(corpus)} distinct user agents; ", end="")
    print(f"medians of {rounds} rounds\n")
    print(f"{'':22}{'µs/UA':>10}{'user_agents / this':>22}")
    for state in ("cold", "warm"):
        ref = median[f"user_agents {state}"]
        for name in (f"sstrack {state}", f"sstrack+bots {state}", f"user_agents {state}"):
            ratio = ref / median[name]
            print(f"{name:22}{median[name]:>10.2f}{ratio:>21.1f}x")
    differ = disagreements(corpus)
    same = len(corpus) - sum(differ.values())
    print(f"\ndevice_type equal to user_agents': {same}/{len(corpus)}")
    for (ours_type, theirs), count in differ.most_common():
        print(f"  {count} times sstrack {ours_type!r} where user_agents {theirs!r}")
    cold_ratio = median["user_agents cold"] / median["sstrack+bots cold"]
    verdict = "MET" if cold_ratio >= TARGET_COLD_RATIO else "MISSED"
    print(f"\ntarget cold enrichment (parse + is_bot) >= {TARGET_COLD_RATIO:.0f}x: ", end="")
    print(f"{verdict} ({cold_ratio:.1f}x)")


if __name__ == "__main__":
    main()
