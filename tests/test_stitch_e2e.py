"""Client-side analytics cookies through the middleware: exactly the expected ids in ``stitch``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

import sstrack
from sstrack.asgi import TrackingMiddleware as AsgiTracking
from sstrack.wsgi import TrackingMiddleware as WsgiTracking

from .drive import http_scope, run_asgi, run_wsgi, wsgi_environ

Events = Callable[[], list[dict[str, Any]]]

DUID = "2c3f1b6e-8d4a-4f2b-9e7c-5a1d0b3c4e6f"
SID = "7d1e2f3a-4b5c-4d6e-8f90-a1b2c3d4e5f6"
NUID = "ecdff4d0-9175-40ac-a8bb-325c49733607"
SEGMENT = "5d9f5d5e-8f3c-4c0a-b2a1-0c6f7e8d9a1b"
POSTHOG = "0196b1c1-f2c0-71c2-93e4-f5a6b7c8d9e0"


def header(now: int) -> str:
    """A realistic page's cookies, written moments ago (so sessions are live)."""
    return (
        "sessionid=h7k2m9q4w8e1r5t3y6u0; csrftoken=Zq3x8Vb2Nm5Lk7Jh4Gf1Dd9Ss6Aa0Pp; "
        # an upgrade leftover (v3 default suffix, older, no session) and the live v4 cookie
        f"_sp_id.2a0b=0a0a0a0a-0000-4000-8000-000000000000.{now - 900000}.1.{now - 800000}."
        f"{now - 900000}.11111111-1111-4111-8111-111111111111; "
        f"_sp_id.8809={DUID}.{now - 86400}.3.{now - 60}.{now - 7200}.{SID}."
        "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d.0e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b."
        f"{(now - 600) * 1000}.5; _sp_ses.8809=*; sp={NUID}; "
        f"_ga=GA1.1.1197596843.1673515099; _ga_ABC123XYZ=GS2.1.s{now - 600}$o14$g1$t{now - 60}"
        "$j48$l0$h0; "
        f"ajs_anonymous_id={SEGMENT}; ajs_user_id=%22user-7%22; "
        f"ph_phc_Xq3F8mT2_posthog=%7B%22distinct_id%22%3A%22{POSTHOG}%22%2C%22%24device_id%22"
        f"%3A%22{POSTHOG}%22%7D"
    )


def check(stitch: dict[str, Any], now: int) -> None:
    assert set(stitch) == {"snowplow", "ga", "segment", "posthog"}
    snowplow = stitch["snowplow"]
    assert (snowplow["suffix"], snowplow["domain_userid"]) == ("8809", DUID)
    assert (snowplow["domain_sessionid"], snowplow["domain_sessionidx"]) == (SID, 3)
    assert snowplow["network_userid"] == NUID
    ga = stitch["ga"]
    assert (ga["client_id"], ga["session_id"], ga["session_number"]) == (
        "1197596843.1673515099", now - 600, 14)
    assert stitch["segment"] == {"anonymous_id": SEGMENT, "user_id": "user-7"}
    posthog = stitch["posthog"]
    assert (posthog["distinct_id"], posthog["device_id"]) == (POSTHOG, POSTHOG)


def test_asgi_request_carries_the_browsers_ids(tracked: Callable[..., Events]) -> None:
    events = tracked()
    now = int(time.time())
    cookie = header(now).encode()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        sstrack.track("viewed")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    # HTTP/2 clients may send one cookie header per cookie: both halves count
    half = cookie.index(b"; _ga=")
    run_asgi(AsgiTracking(app), http_scope(headers=[(b"cookie", cookie[:half]),
                                                     (b"cookie", cookie[half + 2:])]))
    viewed, request = events()
    check(request["stitch"], now)
    assert viewed["stitch"] == request["stitch"]  # custom events inherit the request's ids
    assert "csrftoken" not in repr(request) and "h7k2m9q4" not in repr(request)


def test_wsgi_request_carries_the_browsers_ids(tracked: Callable[..., Events]) -> None:
    events = tracked(snowplow_suffix="2a0b", stitch="snowplow")
    now = int(time.time())

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [b"ok"]

    run_wsgi(WsgiTracking(app), wsgi_environ(headers={"Cookie": header(now)}))
    (event,) = events()
    # the configured suffix wins over the live cookie; its session is not live
    assert list(event["stitch"]) == ["snowplow"]
    snowplow = event["stitch"]["snowplow"]
    assert snowplow["domain_userid"] == "0a0a0a0a-0000-4000-8000-000000000000"
    assert "domain_sessionid" not in snowplow


def test_stitching_can_be_switched_off(tracked: Callable[..., Events]) -> None:
    events = tracked(stitch="none")
    run_asgi(AsgiTracking(respond), http_scope(headers=[(b"cookie", header(0).encode())]))
    assert events()[0]["stitch"] == {}


async def respond(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


@pytest.mark.parametrize(("source", "adopted"), [
    ("snowplow", DUID), ("segment", SEGMENT), ("posthog", POSTHOG), ("ga", None),
])
def test_a_first_visit_adopts_the_vendors_id(tracked: Callable[..., Events], source: str,
                                             adopted: str | None) -> None:
    events = tracked(visitor_id_from=source)
    sent = run_asgi(AsgiTracking(respond), http_scope(headers=[
        (b"cookie", header(int(time.time())).encode())]))
    set_cookie = [v.decode() for k, v in sent[0]["headers"] if k == b"set-cookie"]
    visitor = events()[0]["visitor_id"]
    if adopted is None:  # GA's client id is not a UUID: a fresh id instead
        assert visitor not in (DUID, SEGMENT, POSTHOG)
    else:
        assert visitor == adopted
    assert set_cookie[0].startswith(f"sst_id={visitor};")


def test_an_existing_visitor_keeps_its_id(tracked: Callable[..., Events]) -> None:
    events = tracked(visitor_id_from="snowplow")
    mine = "0b8f6c1e-1234-4abc-8def-0123456789ab"
    cookie = f"sst_id={mine}; " + header(int(time.time()))
    run_asgi(AsgiTracking(respond), http_scope(headers=[(b"cookie", cookie.encode())]))
    assert events()[0]["visitor_id"] == mine


@pytest.mark.parametrize(("options", "message"), [
    ({"stitch": "snowplow,facebook"}, "unknown vendor facebook"),
    ({"visitor_id_from": "matomo"}, "SSTRACK_VISITOR_ID_FROM"),
])
def test_bad_stitch_settings_fail_at_start_up(options: dict[str, str], message: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in options.items():
        monkeypatch.setenv(f"SSTRACK_{key.upper()}", value)
    with pytest.raises(sstrack.ConfigError, match=message):
        sstrack.configure(sinks="memory:")
