"""User-agent parsing: fields, classification parity with ``user_agents``, cache, limits."""

# ruff: noqa: E501 (tables of real user agents, which are longer than a line)

from __future__ import annotations

import subprocess
import sys

import pytest
import user_agents  # type: ignore[import-untyped]
from hypothesis import given, settings
from hypothesis import strategies as st

from sstrack.enrich import useragent
from sstrack.enrich.useragent import (
    DEVICE_TYPES,
    MAX_USER_AGENT_LENGTH,
    USER_AGENT_FIELDS,
    UserAgentParser,
    parse_user_agent,
)

CHROME_70_WIN10 = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/70.0.3538.77 Safari/537.36"
)

# (user agent, device_type expected). Real user agents, current and legacy.
TABLE: list[tuple[str, str]] = [
    # Desktop browsers on Windows, macOS, Linux, ChromeOS.
    (CHROME_70_WIN10, "desktop"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", "desktop"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0", "desktop"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91", "desktop"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36 OPR/105.0.0.0", "desktop"),
    ("Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko", "desktop"),
    ("Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/109.0.0.0 Safari/537.36", "desktop"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", "desktop"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15", "desktop"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:121.0) Gecko/20100101 Firefox/121.0", "desktop"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", "desktop"),
    ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", "desktop"),
    ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", "desktop"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Slack/4.36.140 Chrome/120.0.6099.199 Electron/28.1.3 Safari/537.36", "desktop"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; Xbox; Xbox One) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edge/44.18363.8131", "desktop"),
    # Phones: iPhone browsers and in-app browsers, Android, legacy.
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_2_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1", "mobile"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1", "mobile"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/121.0 Mobile/15E148 Safari/605.1.15", "mobile"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) GSA/300.0.598994205 Mobile/15E148 Safari/604.1", "mobile"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_2_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 312.1.0.34.111 (iPhone15,2; iOS 17_2_1; en_US; en; scale=3.00; 1179x2556; 548339486)", "mobile"),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36", "mobile"),
    ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36", "mobile"),
    ("Mozilla/5.0 (Linux; Android 13; SM-A536B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36", "mobile"),
    ("Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0", "mobile"),
    ("Mozilla/5.0 (Linux; Android 14; SM-S918B Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.230 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/446.0.0.45.108;]", "mobile"),
    ("Mozilla/5.0 (compatible; MSIE 9.0; Windows Phone OS 7.5; Trident/5.0; IEMobile/9.0; SAMSUNG; SGH-i917)", "mobile"),
    ("Opera/9.80 (J2ME/MIDP; Opera Mini/9.80 (J2ME/22.478; U; en) Presto/2.5.25 Version/10.54", "mobile"),
    # Tablets: iPad, Android tablets, Kindle Fire and e-reader, Windows RT.
    ("Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1", "tablet"),
    ("Mozilla/5.0 (iPad; CPU OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1", "tablet"),
    ("Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", "tablet"),
    ("Mozilla/5.0 (Linux; Android 11; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/120.3.1 like Chrome/120.0.6099.230 Safari/537.36", "tablet"),
    ("Mozilla/5.0 (X11; U; Linux armv7l like Android; en-us) AppleWebKit/531.2+ (KHTML, like Gecko) Version/5.0 Safari/531.2+ Kindle/3.0+", "tablet"),
    ("Mozilla/5.0 (Linux; Android 4.1.1; Nexus 7 Build/JRO03D) AppleWebKit/535.19 (KHTML, like Gecko) Chrome/18.0.1025.166  Safari/535.19", "tablet"),
    ("Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.2; ARM; Trident/6.0)", "tablet"),
    # Smart TVs and consoles: user_agents has no TV class; Android TV counts as a tablet.
    ("Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) 85.0.4183.93/6.0 TV Safari/537.36", "other"),
    ("Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.79 Safari/537.36 WebAppManager", "other"),
    ("Mozilla/5.0 (Linux; Android 9; BRAVIA 4K GB ATV3 Build/PTT1.190515.001.S52) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.43 Safari/537.36", "tablet"),
    ("Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.0 Safari/605.1.15", "other"),
    ("Roku/DVP-12.5 (12.5.0.4174-51)", "other"),
    # Crawlers.
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "bot"),
    ("Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.71 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "bot"),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "bot"),
    ("Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", "bot"),
    ("DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)", "bot"),
    ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "bot"),
    ("Twitterbot/1.0", "bot"),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)", "bot"),
    ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", "bot"),
    # Scripts, probes, headless browsers: not "bot" for user_agents (see is_bot for that).
    ("curl/8.5.0", "other"),
    ("python-requests/2.31.0", "other"),
    ("Wget/1.21.4", "other"),
    ("Go-http-client/1.1", "other"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.6099.28 Safari/537.36", "desktop"),
    ("kube-probe/1.29", "other"),
    ("ELB-HealthChecker/2.0", "other"),
    ("okhttp/4.12.0", "other"),
]  # fmt: skip


def reference_device_type(ua: str) -> str:
    """The classification of user_agents itself, in the order the docs state."""
    parsed = user_agents.parse(ua)
    if parsed.is_bot:
        return "bot"
    if parsed.is_tablet:
        return "tablet"
    if parsed.is_mobile:
        return "mobile"
    if parsed.is_pc:
        return "desktop"
    return "other"


def _major(version: tuple[int | str, ...]) -> str | None:
    return str(version[0]) if version else None


@pytest.mark.parametrize(("ua", "expected"), TABLE)
def test_device_type_matches_user_agents(ua: str, expected: str) -> None:
    assert parse_user_agent(ua)["device_type"] == expected == reference_device_type(ua)


@pytest.mark.parametrize(("ua", "expected"), TABLE)
def test_families_and_versions_match_user_agents(ua: str, expected: str) -> None:
    ours = parse_user_agent(ua)
    theirs = user_agents.parse(ua)
    assert ours["browser_family"] == theirs.browser.family
    assert ours["browser_version"] == _major(theirs.browser.version)
    assert ours["os_family"] == theirs.os.family
    assert ours["os_version"] == _major(theirs.os.version)
    assert ours["device_family"] == theirs.device.family
    assert ours["device_brand"] == theirs.device.brand
    assert ours["device_model"] == theirs.device.model


def test_table_covers_every_device_type() -> None:
    assert len(TABLE) >= 40
    assert {expected for _, expected in TABLE} == set(DEVICE_TYPES)


def test_project_a_example() -> None:
    assert parse_user_agent(CHROME_70_WIN10) == {
        "browser_family": "Chrome",
        "browser_version": "70",
        "os_family": "Windows",
        "os_version": "10",
        "device_family": "Other",
        "device_brand": None,
        "device_model": None,
        "device_type": "desktop",
    }


def test_phone_brand_and_model() -> None:
    fields = parse_user_agent(TABLE[20][0])  # Pixel 8
    assert (fields["device_brand"], fields["device_model"]) == ("Google", "Pixel 8")
    assert (fields["os_family"], fields["os_version"]) == ("Android", "14")


@pytest.mark.parametrize("ua", [None, "", "   "])
def test_missing_user_agent(ua: str | None) -> None:
    fields = parse_user_agent(ua)
    assert list(fields) == list(USER_AGENT_FIELDS)
    assert fields == {**dict.fromkeys(USER_AGENT_FIELDS), "device_type": "other"}


def test_unrecognised_user_agent_is_other() -> None:
    fields = parse_user_agent("zzz")
    assert fields["browser_family"] == fields["os_family"] == fields["device_family"] == "Other"
    assert fields["device_type"] == "other"


def test_result_is_a_fresh_dict() -> None:
    first = parse_user_agent(CHROME_70_WIN10)
    first["browser_family"] = "changed"
    first["extra"] = "x"
    assert parse_user_agent(CHROME_70_WIN10)["browser_family"] == "Chrome"
    assert "extra" not in parse_user_agent(CHROME_70_WIN10)


def test_repeated_user_agent_is_served_from_cache() -> None:
    parser = UserAgentParser(cache_size=8)
    parser.parse(CHROME_70_WIN10)
    parser.parse(CHROME_70_WIN10)
    info = parser.cache_info()
    assert (info.hits, info.misses) == (1, 1)


def test_cache_is_bounded() -> None:
    parser = UserAgentParser(cache_size=2)
    for ua, _ in TABLE[:5]:
        parser.parse(ua)
    assert parser.cache_info().currsize == 2
    parser.cache_clear()
    assert parser.cache_info().currsize == 0


def test_oversized_user_agent_is_truncated_before_parsing() -> None:
    parser = UserAgentParser()
    head = TABLE[20][0].ljust(MAX_USER_AGENT_LENGTH, " ")
    # Everything past the limit is ignored: a Googlebot marker there changes nothing,
    # and two user agents differing only there share one cache entry.
    first = parser.parse(head + " (compatible; Googlebot/2.1)" + "x" * 100_000)
    second = parser.parse(head + "y" * 50)
    assert first == second == parser.parse(TABLE[20][0])
    assert first["device_type"] == "mobile"
    assert parser.cache_info().misses == 2


def test_invalid_parser_settings() -> None:
    with pytest.raises(ValueError):
        UserAgentParser(cache_size=-1)
    with pytest.raises(ValueError):
        UserAgentParser(max_length=0)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=600) | st.from_regex(r"Mozilla/5\.0 \([^)]*\).*", fullmatch=True))
def test_any_text_parses(ua: str) -> None:
    fields = parse_user_agent(ua)
    assert tuple(fields) == USER_AGENT_FIELDS
    assert fields["device_type"] in DEVICE_TYPES


@pytest.mark.parametrize("ua", ["\ud800 Mozilla/5.0", "Mozilla/5.0 (iPhone; \udcff)"])
def test_lone_surrogates_do_not_raise(ua: str) -> None:
    assert parse_user_agent(ua)["device_type"] in DEVICE_TYPES


def test_pure_python_fallback_classifies_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ua-parser-rs, ua-parser's own regexes give the same answers, slower."""
    monkeypatch.setitem(sys.modules, "ua_parser.regex", None)  # import now fails
    monkeypatch.setattr(useragent, "_engine", None)
    parser = UserAgentParser()
    for ua, expected in TABLE[::4]:
        assert parser.parse(ua)["device_type"] == expected
    assert isinstance(useragent._get_engine(), useragent._GenericEngine)


def test_importing_does_not_load_the_parser() -> None:
    code = (
        "import sys, sstrack.enrich; "
        "heavy = {'ua_parser', 'ua_parser_rs', 'crawleruseragents', 'geoip2', 'maxminddb'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
