"""Privacy and enrichment through the middleware, with the settings users choose."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sstrack
from sstrack.asgi import TrackingMiddleware as AsgiTracking
from sstrack.sinks import memory
from sstrack.wsgi import TrackingMiddleware as WsgiTracking

from .drive import http_scope, run_asgi, run_wsgi, wsgi_environ
from .enrich.test_geo import BERLIN, LONDON, write_db

Events = Callable[[], list[dict[str, Any]]]
EMAIL = re.compile(r"[\w.+-]+(@|%40)[\w-]+\.[\w.]+")
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/120.0.0.0 Safari/537.36")
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1")
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hi"]


async def hello_asgi(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hi"})


def set_cookies(headers: list[tuple[str, str]]) -> list[str]:
    return [value for name, value in headers if name == "Set-Cookie"]


def test_defaults_let_no_raw_ip_email_or_secret_through(tracked: Callable[..., Events]) -> None:
    events = tracked()
    environ = wsgi_environ(
        "/reset/jane.doe@example.com", remote="203.0.113.77",
        query="email=jane%40example.com&token=abc123&password=hunter2&utm_source=news"
              "&next=%2Flogin%3Fsession%3Dxyz&q=mail+me+at+bob@example.org",
        headers={"Referer": "https://mail.example/?to=alice@example.net&access_token=SECRET9",
                 "User-Agent": CHROME})
    run_wsgi(WsgiTracking(hello), environ)
    (event,) = events()
    text = repr(event)
    assert event["ip"] == "203.0.113.0"
    assert "203.0.113.77" not in text
    for secret in ("abc123", "hunter2", "xyz", "SECRET9"):
        assert secret not in text, secret
    assert not EMAIL.search(text), text
    assert {"param": "utm_source", "value": "news"} in event["query"]
    assert {"param": "token", "value": "[redacted]"} in event["query"]


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(["email", "token", "password", "auth", "session", "api_key", "q"]),
       value=st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._",
                     min_size=6, max_size=20).filter(lambda v: v[0].isalnum()),
       octet=st.integers(1, 254))
def test_no_denylisted_value_email_or_raw_ip_reaches_a_sink(
        tracked: Callable[..., Events], name: str, value: str, octet: int) -> None:
    if sstrack.runtime._current is None:
        tracked()
    memory.clear()
    email = f"{value}@example.com"
    environ = wsgi_environ(remote=f"198.51.100.{octet}", query=f"{name}={value}&m={email}",
                           headers={"Referer": f"https://r.example/?{name}={value}"})
    run_wsgi(WsgiTracking(hello), environ)
    assert sstrack.flush(5)
    (event,) = memory.events()
    assert event["ip"] == "198.51.100.0"
    carried = [event["url"], event["referrer"], *(p["value"] for p in event["query"])]
    assert not any(email in text for text in carried)
    if name != "q":  # q is not sensitive: only the e-mail in m is redacted
        assert not any(value in text.replace("[redacted]", "") for text in carried)


@pytest.mark.parametrize(("mode", "check"), [
    ("full", lambda ip: ip == "203.0.113.77"),
    ("drop", lambda ip: ip is None),
    ("hash", lambda ip: re.fullmatch(r"[0-9a-f]{16}", ip) is not None),
])
def test_ip_modes(tracked: Callable[..., Events], mode: str, check: Callable[[Any], bool],
                  tmp_path: Path) -> None:
    events = tracked(ip_mode=mode, state_dir=str(tmp_path))
    run_wsgi(WsgiTracking(hello), wsgi_environ(remote="203.0.113.77"))
    assert check(events()[0]["ip"])


def gpc_request(clock: float, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setattr("sstrack.wsgi.time", lambda: clock)
    _, headers, _ = run_wsgi(WsgiTracking(hello), wsgi_environ(
        remote="203.0.113.77", headers={"Sec-GPC": "1", "User-Agent": CHROME,
                                        "Cookie": "sst_id=0b8f6c1e-1234-4abc-8def-0123456789ab;"
                                                  " _ga=GA1.1.1197596843.1673515099"}))
    return set_cookies(headers)


def test_gpc_gets_no_cookie_and_a_daily_cookieless_id(tracked: Callable[..., Events],
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    events = tracked(state_dir=str(tmp_path))
    day = 1_800_000_000 - 1_800_000_000 % 86400
    assert gpc_request(day + 100, monkeypatch) == []
    assert gpc_request(day + 80_000, monkeypatch) == []
    assert gpc_request(day + 86_400 + 100, monkeypatch) == []
    first, same_day, next_day = events()
    assert first["visitor_id"] == same_day["visitor_id"] != next_day["visitor_id"]
    assert first["visitor_id"] != "0b8f6c1e-1234-4abc-8def-0123456789ab"
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                        first["visitor_id"])
    for event in (first, same_day, next_day):
        assert (event["session_id"], event["user_id"], event["stitch"]) == (None, None, {})


@pytest.mark.parametrize(("cookie", "granted"), [
    ("consent=granted", True), ("consent=denied", False), ("", False), ("consent=1", True),
])
def test_consent_cookie(tracked: Callable[..., Events], cookie: str, granted: bool) -> None:
    events = tracked(consent_cookie="consent")
    _, headers, _ = run_wsgi(WsgiTracking(hello), wsgi_environ(headers={"Cookie": cookie}))
    assert bool(set_cookies(headers)) is granted
    assert (events()[0]["session_id"] is not None) is granted


def test_skip_mode_records_nothing_and_hooks_decide(tracked: Callable[..., Events]) -> None:
    events = tracked(without_consent="skip",
                     consent_hook=lambda headers: headers.get("x-consent") == "yes")
    run_asgi(AsgiTracking(hello_asgi), http_scope(headers=[(b"x-consent", b"no")]))
    sent = run_asgi(AsgiTracking(hello_asgi), http_scope(headers=[(b"x-consent", b"yes")]))
    assert any(name == b"set-cookie" for name, _ in sent[0]["headers"])
    assert len(events()) == 1


@pytest.mark.parametrize(("path", "method", "tracked_"), [
    ("/static/app.js", "GET", False), ("/favicon.ico", "GET", False), ("/healthz", "GET", False),
    ("/internal/metrics", "GET", False), ("/page", "OPTIONS", False), ("/page", "GET", True),
    ("/admin/x", "GET", False),
])
def test_exclusions(tracked: Callable[..., Events], path: str, method: str,
                    tracked_: bool) -> None:
    events = tracked(exclude_paths="/internal/*",
                     exclude_hook=lambda method, path: path.startswith("/admin"))
    environ = wsgi_environ(path)
    environ["REQUEST_METHOD"] = method
    _, headers, _ = run_wsgi(WsgiTracking(hello), environ)
    assert bool(set_cookies(headers)) is tracked_
    assert len(events()) == int(tracked_)


@pytest.mark.parametrize(("agent", "expected"), [
    (CHROME, {"browser_family": "Chrome", "browser_version": "120", "os_family": "Windows",
              "device_type": "desktop", "is_bot": False}),
    (IPHONE, {"browser_family": "Mobile Safari", "os_family": "iOS", "os_version": "17",
              "device_brand": "Apple", "device_type": "mobile", "is_bot": False}),
    (GOOGLEBOT, {"browser_family": "Googlebot", "device_type": "bot", "is_bot": True}),
    ("curl/8.4.0", {"browser_family": "curl", "is_bot": True}),
    ("python-requests/2.31.0", {"browser_family": "Python Requests", "is_bot": True}),
])
def test_user_agent_enrichment(tracked: Callable[..., Events], agent: str,
                               expected: dict[str, Any]) -> None:
    events = tracked()
    run_wsgi(WsgiTracking(hello), wsgi_environ(headers={"User-Agent": agent}))
    event = events()[0]
    assert {key: event[key] for key in expected} == expected
    assert event["user_agent"] == agent


def test_bots_can_be_dropped_and_are_counted(tracked: Callable[..., Events]) -> None:
    events = tracked(bots="drop")
    for agent in (GOOGLEBOT, CHROME):
        run_wsgi(WsgiTracking(hello), wsgi_environ(headers={"User-Agent": agent}))
    assert [event["user_agent"] for event in events()] == [CHROME]
    assert sstrack.stats()["dropped"] == {"bot": 1}


def test_geo_from_a_database_built_here(tracked: Callable[..., Events], tmp_path: Path) -> None:
    database = write_db(tmp_path / "city.mmdb", "GeoLite2-City",
                        {"81.2.69.0/24": LONDON, "2001:db8::/32": BERLIN})
    events = tracked(geoip_db=str(database))
    for remote in ("81.2.69.160", "2001:db8::1", "192.0.2.1"):
        run_wsgi(WsgiTracking(hello), wsgi_environ(remote=remote))
    london, berlin, unknown = events()
    assert (london["country_iso_code"], london["city_name"]) == ("GB", "London")
    assert london["ip"] == "81.2.69.0"  # looked up first, then anonymised
    assert (berlin["country_name"], berlin["subdivision_iso_code"]) == ("Germany", "BE")
    assert berlin["ip"] == "2001:db8::"
    assert unknown["country_iso_code"] is None


def test_missing_geo_database_fails_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(sstrack.ConfigError, match="SSTRACK_GEOIP_DB"):
        sstrack.configure(sinks="memory:", geoip_db=str(tmp_path / "missing.mmdb"))


def test_sampling_keeps_or_drops_whole_visitors(tracked: Callable[..., Events]) -> None:
    events = tracked(sample_rate=0.5)
    visitors = [f"{i:08x}-1234-4abc-8def-0123456789ab" for i in range(60)]
    now = int(time.time())
    for visitor in visitors:
        for page in range(3):
            cookie = f"sst_id={visitor}; sst_ses={visitor}.1.{now}.{now}"
            run_wsgi(WsgiTracking(hello), wsgi_environ(f"/p{page}", headers={"Cookie": cookie}))
    pages: dict[str, int] = {}
    for event in events():
        pages[event["visitor_id"]] = pages.get(event["visitor_id"], 0) + 1
    assert set(pages.values()) == {3}  # every kept visitor kept all three pages
    assert 10 < len(pages) < 50
    assert sstrack.stats()["dropped"]["sampled"] == (60 - len(pages)) * 3


def test_pseudonymous_user_ids(tracked: Callable[..., Events]) -> None:
    events = tracked(pseudonymise_user_id=True, secret="s" * 32)
    sstrack.identify("alice")
    sstrack.identify("alice")
    first, second = events()
    assert first["user_id"] == second["user_id"] != "alice"
    with pytest.raises(sstrack.ConfigError, match="SSTRACK_SECRET"):
        sstrack.configure(sinks="memory:", pseudonymise_user_id=True)


def test_before_send_changes_drops_and_survives_errors(tracked: Callable[..., Events]) -> None:
    def before_send(event: dict[str, Any]) -> dict[str, Any] | None:
        if event["path"] == "/drop":
            return None
        if event["path"] == "/boom":
            raise RuntimeError("hook bug")
        return {**event, "properties": {"team": "web"}}

    events = tracked(before_send=before_send)
    for path in ("/keep", "/drop", "/boom"):
        _, _, body = run_wsgi(WsgiTracking(hello), wsgi_environ(path))
        assert body == b"hi"
    (kept,) = events()
    assert kept["properties"] == {"team": "web"}
    assert sstrack.stats()["dropped"] == {"before_send": 1, "before_send_error": 1}


def test_hooks_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSTRACK_BEFORE_SEND", "json:dumps")
    config = sstrack.configure(sinks="memory:")
    import json

    assert config.before_send is json.dumps
    monkeypatch.setenv("SSTRACK_BEFORE_SEND", "no.such.module:hook")
    with pytest.raises(sstrack.ConfigError, match="SSTRACK_BEFORE_SEND"):
        sstrack.configure(sinks="memory:")
