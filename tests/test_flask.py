"""sstrack.flask: the extension through Flask's test client and under gunicorn."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from flask import Flask

import sstrack
from sstrack.config import ConfigError
from sstrack.flask import SSTrack
from sstrack.pytest_plugin import CapturedEvents, capture_events

from .flask_site import LOADS, create_app
from .servers import FLUSH_INTERVAL, Server, start_gunicorn

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def _no_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """Validating the default sink would create ./sstrack-events."""
    monkeypatch.setenv("SSTRACK_SINKS", "memory:")


@pytest.fixture
def app() -> Iterator[Flask]:
    LOADS.clear()
    yield create_app()


@pytest.fixture
def events() -> Iterator[CapturedEvents]:
    """The plugin's ``sstrack_events`` (imported this way whether or not it is installed)."""
    with capture_events() as captured:
        yield captured


def test_one_event_per_request_with_route_and_user(app: Flask,
                                                   events: CapturedEvents) -> None:
    client = app.test_client()
    assert client.get("/articles/2024").text == "articles of 2024"
    client.get("/login/7")
    loads = len(LOADS)
    client.get("/")
    assert len(LOADS) == loads  # the page never touched current_user, nor did sstrack
    assert client.get("/me").text == "ada"
    client.get("/missing")
    client.get("/boom")  # Flask answers with a 500: the event says error
    requests = events.find(event="request")
    assert [e["route"] for e in requests] == [
        "/articles/<int:year>", "/login/<user_id>", "/", "/me", None, "/boom"]
    assert [e["user_id"] for e in requests] == [None, "7", None, "7", None, None]
    assert [(e["status"], e["outcome"]) for e in requests] == [
        (200, "completed"), (200, "completed"), (200, "completed"), (200, "completed"),
        (404, "completed"), (500, "error")]
    assert len({(e["visitor_id"], e["session_id"]) for e in requests}) == 1


def test_custom_events_carry_the_requests_visitor(app: Flask,
                                                  events: CapturedEvents) -> None:
    client = app.test_client()
    client.get("/login/7")
    client.get("/purchase")
    client.get("/thread")
    login = events.one(event="request", path="/login/7")
    identify = events.one(event="identify", path="/login/7")
    purchase = events.one(event="purchase")
    assert identify["user_id"] == "7" and identify["properties"] == {"plan": "pro"}
    assert purchase["properties"] == {"order": "A-17", "total": 42.5}
    from_thread = events.one(event="from_thread")
    assert from_thread["user_id"] == "thread-user"
    assert events.one(event="request", path="/thread")["user_id"] == "thread-user"
    for event in (identify, purchase, from_thread):
        assert (event["visitor_id"], event["session_id"]) == (
            login["visitor_id"], login["session_id"])


def test_stream_with_context_user_loaded_while_streaming(app: Flask,
                                                         events: CapturedEvents) -> None:
    client = app.test_client()
    client.get("/login/7")
    response = client.get("/stream-me")
    assert response.text == "hello ada"
    response.close()
    event = events.one(event="request", path="/stream-me")
    assert (event["route"], event["user_id"], event["response_bytes"]) == ("/stream-me", "7", 9)


def test_options_kwargs_over_config_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSTRACK_COOKIE_NAME", "from_env")
    monkeypatch.setenv("SSTRACK_SESSION_COOKIE_NAME", "ses_from_env")
    monkeypatch.setenv("SSTRACK_COOKIE_MAX_AGE", "3600")
    app = Flask(__name__)
    app.config.update(SSTRACK_SINKS="memory:", SSTRACK_COOKIE_NAME="from_config",
                      SSTRACK_SESSION_COOKIE_NAME="ses_from_config")
    extension = SSTrack(app, session_cookie_name="ses_from_kwargs")
    app.get("/")(lambda: "home")
    assert app.extensions["sstrack"] is extension
    with app.test_client() as client, client.get("/") as response:
        cookies = response.headers.getlist("Set-Cookie")
    assert [c.split("=")[0] for c in cookies] == ["from_config", "ses_from_kwargs"]
    assert all("Max-Age=3600;" in cookie for cookie in cookies)
    sstrack.flush()
    assert sstrack.sinks.memory.events()[0]["route"] == "/"
    with pytest.raises(RuntimeError, match="already set up"):
        extension.init_app(app)


@pytest.mark.parametrize(("config", "message"), [
    ({"SSTRACK_SESSION_TIMEOUT": "soon"},
     "app.config['SSTRACK_SESSION_TIMEOUT'] = 'soon': invalid literal for int()"),
    ({"SSTRACK_SESION_TIMEOUT": 60},
     "app.config['SSTRACK_SESION_TIMEOUT']: unknown option; did you mean 'session_timeout'?"),
])
def test_bad_config_fails_in_init_app(config: dict[str, object], message: str) -> None:
    app = Flask(__name__)
    app.config.update(config)
    with pytest.raises(ConfigError) as raised:
        SSTrack().init_app(app)
    assert message in str(raised.value)
    assert "sstrack" not in app.extensions


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_gunicorn("tests.flask_site:create_app()", tmp_path_factory.mktemp("flask"))
    yield server
    server.stop()


def test_under_gunicorn(gunicorn: Server) -> None:
    agent = f"sstrack-flask/{uuid.uuid4().hex}"
    targets = ["/articles/2024", "/login/7", "/me", "/purchase", "/"]
    with httpx.Client(base_url=gunicorn.url(), headers={"User-Agent": agent},
                      timeout=10) as client:
        for target in targets:
            assert client.get(target).status_code == 200
    gunicorn.wait_for_events(lambda e: e["user_agent"] == agent, count=len(targets) + 2)
    time.sleep(4 * FLUSH_INTERVAL)  # a duplicate would have been written by now
    events = gunicorn.events(lambda e: e["user_agent"] == agent)
    requests = [e for e in events if e["event"] == "request"]
    assert [(e["route"], e["user_id"]) for e in requests] == [
        ("/articles/<int:year>", None), ("/login/<user_id>", "7"), ("/me", "7"),
        ("/purchase", None), ("/", None)]
    custom = {e["event"]: e for e in events if e["event"] != "request"}
    assert sorted(custom) == ["identify", "purchase"]
    assert len({(e["visitor_id"], e["session_id"]) for e in events}) == 1


def test_no_open_test_response_is_left_behind(tmp_path: Path) -> None:
    """Without the fixture, Werkzeug's test client records on close(), like a server."""
    sstrack.configure(sinks="memory:")
    client = create_app().test_client()
    response = client.get("/")
    sstrack.flush()
    assert sstrack.sinks.memory.events() == []
    response.close()
    sstrack.flush()
    assert [e["path"] for e in sstrack.sinks.memory.events()] == ["/"]
