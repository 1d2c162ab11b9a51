"""Whatever a client sends, the response is the app's, byte for byte, and the event is valid."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sstrack
from sstrack.asgi import TrackingMiddleware as AsgiTracking
from sstrack.sinks import memory
from sstrack.wsgi import TrackingMiddleware as WsgiTracking

from .drive import http_scope, run_asgi, run_wsgi, without_our_cookies, wsgi_environ

SCHEMA = json.loads((pathlib.Path(sstrack.__file__).parent / "schemas" / "event-1.json")
                    .read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
Events = Callable[[], list[dict[str, Any]]]

HOSTILE: list[tuple[str, list[tuple[bytes, bytes]], bytes]] = [
    ("malformed cookie", [(b"cookie", b"sst_id=\"; ;;=;sst_ses=..-1.x;\x00;=")], b""),
    ("forged ids", [(b"cookie", b"sst_id=00000000-0000-0000-0000-00000000000G; "
                                b"sst_ses=" + b"9" * 5000)], b""),
    ("oversized cookie", [(b"cookie", b"a=" + b"x" * 100_000)], b""),
    ("invalid utf-8", [(b"user-agent", b"\xff\xfe\xc3("), (b"referer", b"http://\xe2\x28\xa1/"),
                       (b"accept-language", b"\xff")], b"q=\xff\xfe"),
    ("control characters", [(b"user-agent", b"evil\r\n\x00\x1b[31mred"),
                            (b"host", b"a\x00b")], b"x=%00%0D%0A"),
    ("huge url and headers", [(b"user-agent", b"U" * 200_000), (b"referer", b"r" * 200_000)],
     b"&".join(b"k%d=%s" % (i, b"v" * 3000) for i in range(500))),
    ("spoofed forwarding", [(b"x-forwarded-for", b"1.2.3.4, 5.6.7.8"),
                            (b"forwarded", b"for=6.6.6.6;proto=https;host=evil"),
                            (b"x-forwarded-proto", b"https"), (b"x-forwarded-host", b"evil")],
     b""),
    ("garbage forwarding", [(b"x-forwarded-for", b",,,[::;;"), (b"forwarded", b";;==,\"\"")],
     b""),
]


async def app_asgi(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 201,
                "headers": [(b"x-app", b"1"), (b"set-cookie", b"app=1")]})
    await send({"type": "http.response.body", "body": b"part", "more_body": True})
    await send({"type": "http.response.body", "body": b"-end"})


def app_wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("201 Created", [("X-App", "1"), ("Set-Cookie", "app=1")])
    return [b"part", b"-end"]


def assert_valid(events: list[dict[str, Any]], count: int) -> None:
    assert len(events) == count
    for event in events:
        VALIDATOR.validate(event)
        # forwarding headers from an untrusted peer are ignored (then the /24 is kept)
        assert event["ip"] == "192.0.2.0"
        assert event["scheme"] == "http"
        json.dumps(event, ensure_ascii=False).encode("utf-8")  # strict UTF-8, no surrogates


@pytest.mark.parametrize(("name", "headers", "query"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_asgi_hostile_requests(tracked: Callable[..., Events], name: str,
                               headers: list[tuple[bytes, bytes]], query: bytes) -> None:
    events = tracked()
    path = "/p\x00ath/" + "é" * 5000
    bare = run_asgi(app_asgi, http_scope(path, headers=headers, query=query))
    wrapped = run_asgi(AsgiTracking(app_asgi), http_scope(path, headers=headers, query=query))
    assert wrapped[0]["status"] == bare[0]["status"]
    assert without_our_cookies(wrapped[0]["headers"]) == bare[0]["headers"]
    assert wrapped[1:] == bare[1:]
    assert_valid(events(), 1)


@pytest.mark.parametrize(("name", "headers", "query"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_wsgi_hostile_requests(tracked: Callable[..., Events], name: str,
                               headers: list[tuple[bytes, bytes]], query: bytes) -> None:
    events = tracked()
    # PEP 3333: header values and paths arrive as latin-1 decoded bytes
    as_environ = {k.decode("latin-1"): v.decode("latin-1") for k, v in headers}
    environ = wsgi_environ("/p\x00ath/" + "\xc3\xa9" * 5000, query=query.decode("latin-1"),
                           headers=as_environ)
    bare = run_wsgi(app_wsgi, dict(environ))
    status, response_headers, body = run_wsgi(WsgiTracking(app_wsgi), dict(environ))
    assert (status, without_our_cookies(response_headers), body) == bare
    assert_valid(events(), 1)


header_names = st.sampled_from([b"cookie", b"user-agent", b"referer", b"accept-language",
                                b"host", b"x-forwarded-for", b"forwarded", b"x-other"])


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(headers=st.lists(st.tuples(header_names, st.binary(max_size=300)), max_size=8),
       query=st.binary(max_size=300), path=st.text(max_size=100))
def test_asgi_arbitrary_input_never_breaks(tracked: Callable[..., Events],
                                           headers: list[tuple[bytes, bytes]], query: bytes,
                                           path: str) -> None:
    if sstrack.runtime._current is None:
        tracked(trusted_proxies="192.0.2.0/24")  # exercise the forwarding parser too
    memory.clear()
    bare = run_asgi(app_asgi, http_scope("/" + path, headers=headers, query=query))
    wrapped = run_asgi(AsgiTracking(app_asgi), http_scope("/" + path, headers=headers,
                                                          query=query))
    assert without_our_cookies(wrapped[0]["headers"]) == bare[0]["headers"]
    assert wrapped[1:] == bare[1:]
    assert sstrack.flush(5)
    (event,) = memory.events()
    VALIDATOR.validate(event)
