"""Bot detection: crawler list, probes, headless browsers, scripts; no real browsers."""

# ruff: noqa: E501 (tables of real user agents, which are longer than a line)

from __future__ import annotations

import sys

import crawleruseragents  # type: ignore[import-untyped]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sstrack.enrich import bots
from sstrack.enrich.bots import APP_CLIENT_EXAMPLES, EXTRA_BOT_PATTERNS, BotDetector, is_bot
from sstrack.enrich.useragent import parse_user_agent
from tests.enrich.test_useragent import TABLE

BOTS = [
    # Search, social and AI crawlers.
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; ChatGPT-User/1.0; +https://openai.com/bot",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    # Health checks and probes.
    "kube-probe/1.29",
    "ELB-HealthChecker/2.0",
    "GoogleHC/1.0",
    "Consul Health Check",
    "Envoy/HC",
    "Prometheus/2.48.0",
    "Blackbox Exporter/0.24.0",
    # Uptime and synthetic monitoring.
    "Datadog Agent/7.50.3",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 DatadogSynthetics",
    "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)",
    "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 StatusCake",
    "Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/60.0.3112.90 Safari/537.36 Site24x7",
    "NewRelicPinger/1.0 (1234567)",
    # Headless browsers.
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.6099.28 Safari/537.36",
    "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1",
    # Command-line tools and HTTP libraries.
    "curl/8.5.0",
    "Wget/1.21.4",
    "python-requests/2.31.0",
    "Python/3.11 aiohttp/3.9.1",
    "python-httpx/0.27.0",
    "Python-urllib/3.11",
    "Go-http-client/1.1",
    "Go-http-client/2.0",
    "Java/17.0.2",
    "Apache-HttpClient/4.5.14 (Java/17.0.2)",
    "axios/1.6.2",
    "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
    "PostmanRuntime/7.36.0",
    "HTTPie/3.2.2",
    "libwww-perl/6.72",
    "Scrapy/2.11.0 (+https://scrapy.org)",
]  # fmt: skip

NOT_BOTS = [
    *(ua for ua, device_type in TABLE if device_type in ("desktop", "mobile", "tablet")),
    *(ua for ua, device_type in TABLE if device_type == "other" and ua.startswith("Mozilla")),
    "Roku/DVP-12.5 (12.5.0.4174-51)",
    # Real people's apps calling their own API (see APP_CLIENT_EXAMPLES).
    *APP_CLIENT_EXAMPLES,
    "okhttp/3.14.9",
    "Expo/1017699 CFNetwork/1474 Darwin/23.0.0",
]
NOT_BOTS.remove(next(ua for ua in NOT_BOTS if "HeadlessChrome" in ua))


@pytest.mark.parametrize("ua", BOTS)
def test_bots_are_detected(ua: str) -> None:
    assert is_bot(ua) is True


@pytest.mark.parametrize("ua", NOT_BOTS)
def test_browsers_and_apps_are_not_bots(ua: str) -> None:
    assert is_bot(ua) is False


@pytest.mark.parametrize("ua", [None, "", "  "])
def test_missing_user_agent_is_a_bot(ua: str | None) -> None:
    # Every browser sends a User-Agent; its absence means a script.
    assert is_bot(ua) is True


def test_every_crawler_list_example_is_detected() -> None:
    """Recall on the list's own examples, except those of patterns dropped on purpose."""
    missed = [
        instance
        for entry in crawleruseragents.CRAWLER_USER_AGENTS_DATA
        for instance in entry["instances"]
        if entry["pattern"] != "okhttp" and not is_bot(instance)
    ]
    assert missed == []


def test_ua_parser_spiders_are_bots() -> None:
    for ua, device_type in TABLE:
        if device_type == "bot":
            assert parse_user_agent(ua)["device_type"] == "bot"
            assert is_bot(ua)


def test_spider_family_alone_is_enough() -> None:
    # Matched by ua-parser's generic "bot" rule, in no pattern list.
    ua = "Mozilla/5.0 (compatible; Zzqxbot/1.0)"
    detector = BotDetector()
    assert not detector._get_matcher()(ua)
    assert parse_user_agent(ua)["device_type"] == "bot"
    assert detector.is_bot(ua)


def test_extra_patterns() -> None:
    ua = "AcmeMonitor/1.0"
    assert not is_bot(ua)
    assert BotDetector(extra_patterns=[r"^AcmeMonitor/"]).is_bot(ua)


@pytest.mark.parametrize("pattern", [r"(unclosed", r"(?<=look)behind"])
def test_bad_extra_pattern_is_rejected_at_construction(pattern: str) -> None:
    with pytest.raises(ValueError, match="bot pattern"):
        BotDetector(extra_patterns=[pattern])


def test_extra_patterns_are_valid_regexes() -> None:
    for pattern in EXTRA_BOT_PATTERNS:
        bots._validate(pattern)


def test_oversized_user_agent_is_bounded() -> None:
    assert is_bot("Mozilla/5.0 " + "a" * 1_000_000) is False
    assert is_bot("curl/8.5.0" + " " * 1_000_000) is True


def test_answers_are_cached() -> None:
    detector = BotDetector(cache_size=4)
    detector("curl/8.5.0")
    detector("curl/8.5.0")
    assert detector.cache_info().hits == 1


def test_python_re_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ua-parser-rs the same patterns run on Python's re (slower, same answers)."""
    detector = BotDetector()
    monkeypatch.setitem(sys.modules, "ua_parser_rs", None)
    for ua in BOTS[::5]:
        assert detector.is_bot(ua)
    for ua in NOT_BOTS[::5]:
        assert not detector.is_bot(ua)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_text_gives_a_bool(ua: str) -> None:
    assert isinstance(is_bot(ua), bool)


def test_list_patterns_rust_rejects_run_on_python_re(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """One pattern Rust cannot compile must not push the whole list to Python's re."""
    patterns = [r"(?<=Acme)Probe", r"^ZzqxFetcher/"]
    monkeypatch.setattr(bots, "_crawler_list_patterns", lambda: list(patterns))
    detector = BotDetector()
    assert detector.is_bot("AcmeProbe/1.0")  # look-behind: Python's re
    assert detector.is_bot("ZzqxFetcher/2")  # Rust
    assert not detector.is_bot("Probe/1.0")
    assert "(?<=Acme)Probe" in caplog.text


def test_invalid_list_pattern_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    assert not bots._usable(r"(unclosed")
    assert "invalid crawler pattern" in caplog.text
    assert not bots._usable("okhttp")
    assert bots._usable("Googlebot")
