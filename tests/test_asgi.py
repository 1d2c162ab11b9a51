from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import pytest

import sstrack
from sstrack.asgi import TrackingMiddleware
from sstrack.sinks import memory

from .drive import http_scope, run_asgi, without_our_cookies

Events = Callable[[], list[dict[str, Any]]]
VID = "0b8f6c1e-1234-4abc-8def-0123456789ab"


def respond(body: bytes = b"hello", headers: list[tuple[bytes, bytes]] | None = None,
            status: int = 200) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": status,
                    "headers": headers or [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": body})
    return app


def cookies(messages: list[dict[str, Any]]) -> list[str]:
    return [v.decode() for k, v in messages[0]["headers"] if k == b"set-cookie"]


def test_a_request_becomes_one_event(tracked: Callable[..., Events]) -> None:
    events = tracked(ip_mode="full")
    scope = http_scope("/articles/ü", query=b"a=1&a=2&utm_source=x", headers=[
        (b"host", b"shop.example"), (b"user-agent", b"Mozilla/5.0"),
        (b"referer", b"https://search.example/?q=x"), (b"accept-language", b"de-CH,de;q=0.9"),
        (b"cookie", b"other=1"), (b"authorization", b"Bearer secret")])
    scope["raw_path"] = b"/articles/%C3%BC"
    run_asgi(TrackingMiddleware(respond()), scope)
    (event,) = events()
    assert event["path"] == "/articles/ü"
    assert event["url"] == "http://shop.example/articles/%C3%BC?a=1&a=2&utm_source=x"
    assert event["query"] == [{"param": "a", "value": "1"}, {"param": "a", "value": "2"},
                              {"param": "utm_source", "value": "x"}]
    assert (event["host"], event["ip"], event["language"]) == ("shop.example", "192.0.2.10", "de")
    assert event["referrer"] == "https://search.example/?q=x"
    assert (event["status"], event["response_bytes"], event["outcome"]) == (200, 5, "completed")
    assert "secret" not in repr(event) and "other=1" not in repr(event)


def test_cookies_are_appended_without_clobbering_the_apps(tracked: Callable[..., Events]) -> None:
    tracked()
    app = respond(headers=[(b"set-cookie", b"app=1; Path=/"), (b"content-type", b"text/plain")])
    sent = run_asgi(TrackingMiddleware(app), http_scope())
    values = cookies(sent)
    assert values[0] == "app=1; Path=/"
    assert values[1].startswith("sst_id=") and values[2].startswith("sst_ses=")
    assert values[1].endswith("; Max-Age=63072000; Path=/; HttpOnly; SameSite=Lax")


def test_returning_visitor_gets_no_set_cookie(tracked: Callable[..., Events]) -> None:
    events = tracked()
    first = run_asgi(TrackingMiddleware(respond()), http_scope())
    jar = "; ".join(c.split(";")[0] for c in cookies(first))
    second = run_asgi(TrackingMiddleware(respond()),
                      http_scope(headers=[(b"cookie", jar.encode())]))
    assert cookies(second) == []
    one, two = events()
    assert (one["visitor_id"], one["session_id"]) == (two["visitor_id"], two["session_id"])


@pytest.mark.parametrize(("scheme", "headers", "options", "secure"), [
    ("https", [], {}, True),
    ("http", [(b"x-forwarded-proto", b"https")], {}, False),  # untrusted peer
    ("http", [(b"x-forwarded-proto", b"https"), (b"x-forwarded-for", b"203.0.113.9")],
     {"trusted_proxies": "192.0.2.0/24"}, True),
    ("http", [], {"cookie_secure": True}, True),
])
def test_secure_attribute(tracked: Callable[..., Events], scheme: str,
                          headers: list[tuple[bytes, bytes]], options: dict[str, Any],
                          secure: bool) -> None:
    tracked(**options)
    sent = run_asgi(TrackingMiddleware(respond()), http_scope(scheme=scheme, headers=headers))
    assert all(("; Secure;" in value) is secure for value in cookies(sent))


def test_cookie_domain_and_names_are_configurable(tracked: Callable[..., Events]) -> None:
    tracked(cookie_name="vid", session_cookie_name="ses", cookie_domain=".example.com")
    values = cookies(run_asgi(TrackingMiddleware(respond()), http_scope()))
    assert values[0].startswith("vid=") and values[1].startswith("ses=")
    assert all("; Domain=.example.com;" in value for value in values)


@pytest.mark.parametrize("cache_control", [b"public, max-age=600", b"max-age=0, s-maxage=60"])
def test_shared_cacheable_responses_get_no_cookie_but_are_tracked(
        tracked: Callable[..., Events], cache_control: bytes) -> None:
    events = tracked()
    sent = run_asgi(TrackingMiddleware(respond(headers=[(b"Cache-Control", cache_control)])),
                    http_scope())
    assert cookies(sent) == []
    assert len(events()) == 1


def test_event_is_queued_only_after_the_final_body(tracked: Callable[..., Events]) -> None:
    events = tracked()
    seen_mid_stream: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for chunk in (b"ab", b"cde"):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            seen_mid_stream.append(len(events()))
        await send({"type": "http.response.body", "body": b"f"})

    run_asgi(TrackingMiddleware(app), http_scope())
    assert seen_mid_stream == [0, 0]
    (event,) = events()
    assert (event["response_bytes"], event["outcome"]) == (6, "completed")


def test_app_exception_propagates_unchanged_and_is_recorded(
        tracked: Callable[..., Events]) -> None:
    events = tracked()
    error = ValueError("the app's own error")

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise error

    with pytest.raises(ValueError) as caught:
        run_asgi(TrackingMiddleware(app), http_scope())
    assert caught.value is error
    (event,) = events()
    assert (event["outcome"], event["status"]) == ("error", None)


def disconnecting_apps() -> list[Any]:
    async def reads_disconnect(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"x", "more_body": True})
        assert (await receive())["type"] == "http.disconnect"

    async def send_fails(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"x", "more_body": True})
        raise OSError("client went away")

    async def cancelled(scope: Any, receive: Any, send: Any) -> None:
        raise asyncio.CancelledError

    return [reads_disconnect, send_fails, cancelled]


@pytest.mark.parametrize("app", disconnecting_apps())
def test_disconnects_are_recorded(tracked: Callable[..., Events], app: Any) -> None:
    events = tracked()
    incoming = [{"type": "http.disconnect"}]
    with contextlib.suppress(OSError, asyncio.CancelledError):
        run_asgi(TrackingMiddleware(app), http_scope(), incoming)
    (event,) = events()
    assert event["outcome"] == "disconnected"


def test_app_that_never_finishes_its_response_is_an_error(tracked: Callable[..., Events]) -> None:
    events = tracked()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})

    run_asgi(TrackingMiddleware(app), http_scope())
    assert events()[0]["outcome"] == "error"


def test_websocket_passes_through_untouched(tracked: Callable[..., Events]) -> None:
    events = tracked()
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.extend([scope, receive, send])

    async def receive() -> Any:
        return {}

    async def send(message: Any) -> None:
        return None

    scope = {"type": "websocket", "path": "/ws", "headers": []}
    asyncio.run(TrackingMiddleware(app)(scope, receive, send))
    assert seen == [scope, receive, send]
    assert events() == []


def test_lifespan_shutdown_flushes(tracked: Callable[..., Events]) -> None:
    tracked(flush_interval=60, batch_size=10_000)
    run_asgi(TrackingMiddleware(respond()), http_scope())
    assert memory.events() == []  # still queued: the worker waits for its timer

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return

    sent = run_asgi(TrackingMiddleware(app), {"type": "lifespan"},
                    [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    assert [m["type"] for m in sent] == ["lifespan.startup.complete",
                                         "lifespan.shutdown.complete"]
    assert len(memory.events()) == 1  # written before the server was told we are done


def test_disabled_is_a_pure_pass_through(tracked: Callable[..., Events]) -> None:
    events = tracked(enabled=False)
    sent = run_asgi(TrackingMiddleware(respond()), http_scope())
    assert cookies(sent) == [] and events() == []


def test_a_failing_sink_never_changes_the_response(tracked: Callable[..., Events],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    tracked()

    def broken(self: Any, batch: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(memory.MemorySink, "write", broken)
    bare = run_asgi(respond(), http_scope())
    wrapped = run_asgi(TrackingMiddleware(respond()), http_scope())
    assert without_our_cookies(wrapped[0]["headers"]) == bare[0]["headers"]
    assert wrapped[1:] == bare[1:]
    assert sstrack.flush(5)
    # Each failed attempt counts as an error; the event is retried, then dropped.
    stats = sstrack.stats()
    assert stats["errors"]["memory:"] >= 1 and stats["dropped"]["sink_error"] == 1


def test_a_bug_in_sstrack_never_reaches_the_app(tracked: Callable[..., Events],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    tracked()

    def bug(*args: Any) -> Any:
        raise RuntimeError("sstrack bug")

    monkeypatch.setattr("sstrack.admission.resolve_identity", bug)
    monkeypatch.setattr("sstrack.asgi.is_secure", bug)
    sent = run_asgi(TrackingMiddleware(respond()), http_scope())
    assert sent == run_asgi(respond(), http_scope())
    assert sstrack.stats()["dropped"]["internal_error"] == 1


def test_starlette_and_fastapi_add_middleware(tracked: Callable[..., Events]) -> None:
    from fastapi import FastAPI
    from starlette.testclient import TestClient

    events = tracked()
    app = FastAPI()

    @app.get("/items/{item_id}")
    def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    app.add_middleware(TrackingMiddleware)
    with TestClient(app) as client:
        response = client.get("/items/7?x=1")
        assert response.json() == {"item_id": 7}
        assert "sst_id" in response.cookies
        assert client.get("/items/8").headers.get("set-cookie") is None
    first, second = events()
    assert first["path"] == "/items/7" and second["visitor_id"] == first["visitor_id"]


def test_app_may_be_given_by_keyword_as_older_starlette_does(
        tracked: Callable[..., Events]) -> None:
    events = tracked()
    run_asgi(TrackingMiddleware(app=respond()), http_scope())
    assert len(events()) == 1
    with pytest.raises(TypeError, match="needs the ASGI app"):
        TrackingMiddleware()
