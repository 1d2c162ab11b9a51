"""Bot detection accuracy: recall on public crawler examples, false positives on browsers.

Usage::

    pip install fake-useragent  # ~840 real browser user agents (else a built-in set)
    python benchmarks/bots_accuracy.py [--show 10]

* Recall: the share of the ``instances`` (real user agents) that the public
  ``crawler-user-agents`` list gives for its own patterns, and of a set of health
  checks, monitors and HTTP tools, that are flagged.
* False-positive rate: the share of real browser and app user agents that are
  flagged: ``fake-useragent``'s real-world data, ``user_agents``' own test strings and
  a set of app and in-app user agents assembled here.

Both are printed for sstrack's ``is_bot`` and, as a baseline, for ``user_agents``'
``is_bot`` (ua-parser's "Spider" device family alone).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import re
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import crawleruseragents  # type: ignore[import-untyped]
import user_agents  # type: ignore[import-untyped]

from sstrack.enrich.bots import BotDetector

__all__ = ["browsers", "crawler_examples", "main"]

# Clients a site sees that the crawler list is not about.
PROBES_AND_TOOLS = [
    "kube-probe/1.29",
    "ELB-HealthChecker/2.0",
    "GoogleHC/1.0",
    "Consul Health Check",
    "Envoy/HC",
    "Prometheus/2.48.0",
    "Blackbox Exporter/0.24.0",
    "NewRelicPinger/1.0 (1234567)",
    "Azure Traffic Manager Endpoint Monitor",
    "AlwaysOn",
    "Datadog Agent/7.50.3",
    "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/120.0.6099.28 Safari/537.36",
    "curl/8.5.0",
    "Wget/1.21.4",
    "python-requests/2.31.0",
    "Python/3.11 aiohttp/3.9.1",
    "python-httpx/0.27.0",
    "Go-http-client/1.1",
    "Java/17.0.2",
    "axios/1.6.2",
    "PostmanRuntime/7.36.0",
]

# Real people: apps calling their own API, in-app browsers, TVs, consoles.
APPS_AND_DEVICES = [
    "okhttp/4.12.0",
    "Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/UD1A.230803.041)",
    "MyApp/2.3 CFNetwork/1410.0.3 Darwin/22.6.0",
    "Dart/3.2 (dart:io)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Slack/4.36.140 Chrome/120.0.6099.199 Electron/28.1.3 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B Build/UP1A.231005.007; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.230 Mobile Safari/537.36 "
    "[FB_IAB/FB4A;FBAV/446.0.0.45.108;]",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Mobile/15E148 Instagram 312.1.0.34.111 (iPhone15,2; iOS 17_2_1; en_US; en; "
    "scale=3.00; 1179x2556; 548339486)",
    "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "85.0.4183.93/6.0 TV Safari/537.36",
    "Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/79.0.3945.79 Safari/537.36 WebAppManager",
    "Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/13.0 Safari/605.1.15",
    "Roku/DVP-12.5 (12.5.0.4174-51)",
    "Mozilla/5.0 (Linux; Android 11; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Silk/120.3.1 like Chrome/120.0.6099.230 Safari/537.36",
]


def crawler_examples() -> list[tuple[str, str]]:
    """(pattern, instance) for every example of the public crawler list."""
    return [
        (entry["pattern"], instance)
        for entry in crawleruseragents.CRAWLER_USER_AGENTS_DATA
        for instance in entry["instances"]
    ]


def browsers() -> dict[str, list[str]]:
    """Real browser and app user agents, by source."""
    sources: dict[str, list[str]] = {}
    try:
        import fake_useragent

        data = Path(fake_useragent.__file__).parent / "data" / "browsers.jsonl"
        rows = [json.loads(line)["useragent"] for line in data.read_text().splitlines()]
        sources["fake-useragent"] = list(dict.fromkeys(rows))
    except ImportError:
        print("fake-useragent not installed: smaller browser set", file=sys.stderr)
    tests = (Path(user_agents.__file__).parent / "tests.py").read_text()
    strings = re.findall(r"^(\w+)_ua_string = '([^']+)'", tests, re.MULTILINE)
    sources["user_agents tests"] = [ua for name, ua in strings if "bot" not in name]
    sources["apps and devices"] = APPS_AND_DEVICES
    return sources


def rate(flag: Callable[[str], bool], uas: list[str]) -> tuple[int, list[str]]:
    flagged = [ua for ua in uas if flag(ua)]
    return len(flagged), flagged


def reference_is_bot(ua: str) -> bool:
    return bool(user_agents.parse(ua).is_bot)


def main() -> None:
    """Compute and print recall and false-positive rates."""
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--show", type=int, default=10, help="examples of misses to print")
    show = args.parse_args().show
    detector = BotDetector()
    sides = {"sstrack is_bot": detector.is_bot, "user_agents is_bot": reference_is_bot}
    examples = crawler_examples()
    versions = ", ".join(
        f"{name} {importlib.metadata.version(name)}"
        for name in ("crawler-user-agents", "ua-parser", "ua-parser-builtins", "user-agents")
    )
    print(f"# bot detection accuracy, {datetime.now(timezone.utc):%Y-%m-%d}; {versions}\n")

    sets = {
        "crawler list examples": [ua for _, ua in examples],
        "  without okhttp (not a bot here)": [ua for p, ua in examples if p != "okhttp"],
        "probes, monitors, HTTP tools": PROBES_AND_TOOLS,
    }
    print("RECALL (share flagged as bots)")
    for name, uas in sets.items():
        cells = [f"{n}: {rate(flag, uas)[0] / len(uas):7.2%}" for n, flag in sides.items()]
        print(f"  {name:36} n={len(uas):5}   " + "   ".join(cells))
    missed = [ua for ua in sets["  without okhttp (not a bot here)"] if not detector(ua)]
    for ua in missed[:show]:
        print(f"    missed: {ua[:100]}")

    print("\nFALSE POSITIVES (share of real browsers and apps flagged)")
    everything: list[str] = []
    for name, uas in browsers().items():
        everything += uas
        cells = [f"{n}: {rate(flag, uas)[0] / len(uas):7.2%}" for n, flag in sides.items()]
        print(f"  {name:36} n={len(uas):5}   " + "   ".join(cells))
    for side, flag in sides.items():
        count, flagged = rate(flag, everything)
        print(f"  all, {side:31} {count}/{len(everything)} = {count / len(everything):.2%}")
        for ua in flagged[:show]:
            print(f"    flagged: {ua[:100]}")


if __name__ == "__main__":
    main()
