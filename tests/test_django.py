"""sstrack.django in-process: Django's test clients, its ASGI handler driven by hand, settings.

The project is ``tests.django_project``; the same project runs under real
servers in ``test_django_servers.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync

import sstrack
from sstrack.sinks import memory

from .apps import STREAM_BYTES
from .django_project.database import prepare

pytestmark = pytest.mark.timeout(60)

Events = Callable[[], list[dict[str, Any]]]
MIDDLEWARE = "sstrack.django.TrackingMiddleware"


@pytest.fixture
def django_db(tmp_path_factory: pytest.TempPathFactory) -> int:
    """Django set up in this process on a migrated sqlite file; the pk of its user "ada"."""
    return prepare(tmp_path_factory.getbasetemp() / "django").ada


def by_event(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {event["event"]: event for event in events}


def queries(call: Callable[[], Any]) -> int:
    """How many SQL queries ``call`` made on this thread's connection."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        call()
    return len(captured)


# -- the test clients -------------------------------------------------------------------


def test_one_event_per_request_with_route_and_cookies(django_db: int,
                                                      tracked: Callable[..., Events]) -> None:
    from django.test import Client

    events = tracked()
    client = Client(raise_request_exception=False)
    response = client.get("/articles/2024/?utm_source=x", HTTP_USER_AGENT="UA/1")
    assert response.content == b"articles of 2024"
    assert sorted(response.cookies) == ["sst_id", "sst_ses"]
    morsel = response.cookies["sst_id"]
    assert (morsel["max-age"], morsel["path"], morsel["httponly"], morsel["samesite"]) == (
        63072000, "/", True, "Lax")
    assert not morsel["secure"]
    client.get("/missing/")
    client.get("/boom/")
    article, missing, boom = events()
    assert article["route"] == "articles/<int:year>/"
    assert (article["status"], article["outcome"], article["response_bytes"]) == (
        200, "completed", 16)
    assert (article["path"], article["user_agent"], article["user_id"]) == (
        "/articles/2024/", "UA/1", None)
    assert article["query"] == [{"param": "utm_source", "value": "x"}]
    assert (missing["route"], missing["status"]) == (None, 404)
    assert missing["visitor_id"] == article["visitor_id"]  # the client sent the cookies back
    # Django answered the exception with a 500; the event says so.
    assert (boom["route"], boom["status"], boom["outcome"]) == ("boom/", 500, "error")


def test_user_id_without_an_extra_query(django_db: int, tracked: Callable[..., Events]) -> None:
    from django.test import Client, override_settings

    events = tracked()
    ada = _ada()

    def visit() -> list[int]:
        client = Client()
        client.force_login(ada)
        return [queries(lambda: client.get("/")), queries(lambda: client.get("/me/"))]

    # The same visit without sstrack: the query counts must not change.
    with override_settings(MIDDLEWARE=[m for m in _middleware() if m != MIDDLEWARE]):
        baseline = visit()
    assert visit() == baseline == [0, 2]  # /me/: the session, then the user
    home, me = events()
    assert (home["route"], home["user_id"]) == ("", None)  # the view never loaded the user
    assert (me["route"], me["user_id"]) == ("me/", str(django_db))


def test_async_views_and_auser(django_db: int, tracked: Callable[..., Events]) -> None:
    from django.test import AsyncClient, override_settings

    events = tracked()
    ada = _ada()

    async def visit() -> None:
        client = AsyncClient()
        await client.aforce_login(ada)
        assert (await client.get("/ame/")).content == b"ada"
        assert (await client.get("/async/hello/")).content == b"hello"
        await client.get("/apurchase/")

    # async_to_sync runs the ORM's thread-sensitive calls on this thread,
    # where the queries are counted.
    with override_settings(MIDDLEWARE=[m for m in _middleware() if m != MIDDLEWARE]):
        baseline = queries(async_to_sync(visit))
    assert [e["event"] for e in events()] == ["purchase"]  # no request event without us
    memory.clear()
    assert queries(async_to_sync(visit)) == baseline > 0
    me, article, request, purchase = events()  # custom events follow their request
    assert (me["route"], me["user_id"], me["outcome"]) == ("ame/", str(django_db), "completed")
    assert (article["route"], article["user_id"]) == ("async/<slug:name>/", None)
    assert purchase["event"] == "purchase" and purchase["properties"] == {
        "order": "A-18", "total": 7}
    assert (purchase["visitor_id"], purchase["session_id"]) == (
        request["visitor_id"], request["session_id"])


def test_async_handler_exception_is_an_error(django_db: int,
                                             tracked: Callable[..., Events]) -> None:
    from django.test import AsyncClient

    events = tracked()
    client = AsyncClient(raise_request_exception=False)
    assert async_to_sync(client.get)("/boom/").status_code == 500
    [event] = events()
    assert (event["route"], event["status"], event["outcome"]) == ("boom/", 500, "error")


def test_identify_track_and_a_thread(django_db: int, tracked: Callable[..., Events]) -> None:
    from django.test import Client

    events = tracked(strict=True)
    client = Client()
    client.get("/login/?user=ada")
    client.get("/purchase/")
    client.get("/thread/")
    # custom events are queued right after their request, once it has finished
    login, identify, bought, purchase, thread, thread_identify, from_thread = events()
    assert identify["event"] == "identify" and identify["properties"] == {"plan": "pro"}
    assert identify["user_id"] == login["user_id"] == str(django_db)
    assert (purchase["event"], purchase["properties"]) == (
        "purchase", {"order": "A-17", "total": 42.5})
    # held until the request ended, the custom event sees the route set at its end
    assert bought["route"] == purchase["route"] == "purchase/"
    # Logged in, but /purchase/ never read request.user: no query, so no user_id.
    assert bought["user_id"] is None
    assert thread_identify["user_id"] == from_thread["user_id"] == thread["user_id"] == (
        "thread-user")
    for event in (identify, purchase, bought, from_thread, thread):
        assert (event["visitor_id"], event["session_id"]) == (
            login["visitor_id"], login["session_id"])


def test_streams_are_counted_to_the_end(django_db: int, tracked: Callable[..., Events]) -> None:
    from django.test import AsyncClient, Client

    events = tracked()
    response = Client().get("/stream/")
    assert events() == []  # not before the test client closes it, as a server would
    assert len(b"".join(response.streaming_content)) == STREAM_BYTES

    async def read_async_stream() -> int:
        streamed = await AsyncClient().get("/astream/")
        return sum([len(chunk) async for chunk in streamed.streaming_content])

    assert async_to_sync(read_async_stream)() == STREAM_BYTES
    for event in events():
        assert (event["response_bytes"], event["outcome"]) == (STREAM_BYTES, "completed")
    memory.clear()
    response = Client().get("/file/")
    size = len(b"".join(response.streaming_content))
    assert size == int(response["Content-Length"]) > 0
    [event] = events()  # a FileResponse keeps its file (and sendfile): counted as announced
    assert (event["response_bytes"], event["outcome"]) == (size, "completed")


def test_cookies_never_clobber_the_apps_nor_reach_shared_caches(
        django_db: int, tracked: Callable[..., Events]) -> None:
    from django.test import Client

    events = tracked()
    cookies = Client().get("/cookie/").cookies
    assert (cookies["app"].value, cookies["sst_id"].value) == ("1", "the-apps-own")
    assert "sst_ses" in cookies
    assert not Client().get("/cached/").cookies
    assert [event["status"] for event in events()] == [200, 200]


# -- settings -----------------------------------------------------------------------


def test_settings_win_over_the_environment(django_db: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from django.test import Client, override_settings

    monkeypatch.setenv("SSTRACK_COOKIE_NAME", "from_env")
    monkeypatch.setenv("SSTRACK_COOKIE_SECURE", "true")
    with override_settings(SSTRACK={"sinks": "memory:", "cookie_name": "from_settings"}):
        response = Client().get("/")
    assert sorted(response.cookies) == ["from_settings", "sst_ses"]
    assert response.cookies["sst_ses"]["secure"]  # still from the environment
    sstrack.flush()
    assert [event["path"] for event in memory.events()] == ["/"]


@pytest.mark.parametrize(("setting", "environ", "message"), [
    ({"session_timeout": "soon"}, {},
     "settings.SSTRACK['session_timeout'] = 'soon': invalid literal for int()"),
    ({"sinkz": "memory:"}, {}, "settings.SSTRACK['sinkz']: unknown option; did you mean 'sinks'?"),
    ("memory:", {}, "settings.SSTRACK must be a dict of sstrack options"),
    (None, {"SSTRACK_BATCH_SIZE": "0"}, "SSTRACK_BATCH_SIZE '0': expected a positive whole number"),
])
@pytest.mark.parametrize("handler", ["wsgi", "asgi"])
def test_bad_settings_fail_when_the_handler_starts(
        django_db: int, monkeypatch: pytest.MonkeyPatch, handler: str, setting: Any,
        environ: dict[str, str], message: str) -> None:
    from django.core.exceptions import ImproperlyConfigured
    from django.core.handlers.asgi import ASGIHandler
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import override_settings

    monkeypatch.setenv("SSTRACK_SINKS", "memory:")  # validating the default creates a directory
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    with override_settings(SSTRACK=setting), pytest.raises(ImproperlyConfigured) as raised:
        WSGIHandler() if handler == "wsgi" else ASGIHandler()
    assert message in str(raised.value)


# -- Django's ASGI handler, driven by hand ------------------------------------------------


def run_until_disconnect(path: str, query: str, started: Path, release: Path,
                         middleware: list[str] | None = None) -> list[dict[str, Any]]:
    """Request ``path`` through a fresh ASGIHandler; disconnect once ``started``
    exists, and create ``release`` a little later so that a view or middleware
    still running in a thread can finish (the handler waits for its threads)."""
    from django.core.handlers.asgi import ASGIHandler
    from django.test import override_settings

    sent: list[dict[str, Any]] = []

    async def main() -> None:
        gone = asyncio.Event()
        incoming = [{"type": "http.request", "body": b"", "more_body": False}]

        async def receive() -> dict[str, Any]:
            if incoming:
                return incoming.pop()
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "GET", "scheme": "https", "path": path, "raw_path": path.encode(),
                 "query_string": query.encode(), "root_path": "", "client": ("192.0.2.1", 9),
                 "headers": [(b"host", b"shop.example")], "server": ("127.0.0.1", 443)}
        with override_settings(MIDDLEWARE=middleware or _middleware()):
            task = asyncio.create_task(ASGIHandler()(scope, receive, send))
        for _ in range(1000):
            if started.exists():
                break
            await asyncio.sleep(0.01)
        gone.set()
        await asyncio.sleep(0.2)  # Django has cancelled the request by now
        release.touch()
        await asyncio.wait_for(task, 10)

    asyncio.run(main())
    return sent


def slow_query(tmp_path: Path) -> tuple[str, Path, Path]:
    started, release = tmp_path / "started", tmp_path / "release"
    return f"started={started}&release={release}", started, release


@pytest.mark.parametrize("middleware", [
    None,  # async mode: the cancellation reaches sstrack's __acall__
    [MIDDLEWARE, "tests.django_project.middleware.SyncOnly"],  # sync mode, in a thread
])
def test_disconnect_while_the_view_runs(django_db: int, tracked: Callable[..., Events],
                                        tmp_path: Path, middleware: list[str] | None) -> None:
    events = tracked()
    path = "/slow/" if middleware is None else "/sync-slow/"
    query, started, release = slow_query(tmp_path)
    assert run_until_disconnect(path, query, started, release, middleware) == []
    [event] = events()
    assert (event["path"], event["route"], event["status"], event["outcome"]) == (
        path, path.strip("/") + "/", None, "disconnected")
    assert event["scheme"] == "https"  # from the scope: ASGIRequest.META has no scheme


def test_disconnect_after_the_response_is_made(django_db: int, tracked: Callable[..., Events],
                                               tmp_path: Path) -> None:
    """An outer middleware still holds the response when the client leaves:
    Django never closes it, and sstrack records it when it is released."""
    events = tracked()
    hold = tmp_path / "hold"
    assert run_until_disconnect("/", f"hold={hold}", hold, Path(f"{hold}.release"),
                                ["tests.django_project.middleware.HoldResponse",
                                 *_middleware()]) == []
    [event] = events()
    assert (event["status"], event["outcome"], event["route"]) == (200, "disconnected", "")


def test_asgi_path_and_secure_cookies(django_db: int, tracked: Callable[..., Events]) -> None:
    from django.core.handlers.asgi import ASGIHandler

    from .drive import http_scope, run_asgi

    events = tracked()
    scope = http_scope("/caf\u00e9/\u2713", scheme="https", headers=[(b"host", b"shop.example")])
    scope["raw_path"] = b"/caf%C3%A9/%E2%9C%93"  # as servers send it
    sent = run_asgi(ASGIHandler(), scope)
    cookies = [v.decode() for k, v in sent[0]["headers"] if k.lower() == b"set-cookie"]
    assert len(cookies) == 2 and all("Secure" in cookie.split("; ") for cookie in cookies)
    [event] = events()
    assert (event["path"], event["status"], event["url"]) == (
        "/caf\u00e9/\u2713", 404, "https://shop.example/caf%C3%A9/%E2%9C%93")


# -- helpers -------------------------------------------------------------------------


def _middleware() -> list[str]:
    from django.conf import settings

    return list(settings.MIDDLEWARE)


def _ada() -> Any:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="ada")
