"""sstrack.django under real servers on 127.0.0.1: gunicorn (WSGI) and uvicorn (ASGI).

The project is ``tests.django_project``, with the database this process
migrated (``tests.django_project.database``). Each test tells its own events
apart by a User-Agent no other request sends.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from .apps import FIRST_CHUNK, STREAM_BYTES
from .django_project.database import SETTINGS, Database, prepare
from .servers import (
    FLUSH_INTERVAL,
    Event,
    Server,
    abandon_response,
    hang_up_when,
    start_gunicorn,
    start_uvicorn,
)

pytestmark = pytest.mark.timeout(60)

def _uvicorn(directory: Path, **kwargs: Any) -> Server:
    # Django's ASGIHandler speaks no lifespan protocol.
    return start_uvicorn("tests.django_project.asgi:application", directory, "--lifespan", "off",
                         **kwargs)


STACKS: dict[str, Callable[..., Server]] = {
    "gunicorn": partial(start_gunicorn, "tests.django_project.wsgi:application"),
    "uvicorn": _uvicorn,
}
BOTH = pytest.mark.parametrize("stack", sorted(STACKS))


class Servers:
    """One server per stack for the whole module, started on first use."""

    def __init__(self, directory: Path, database: Database) -> None:
        self.directory = directory
        self.env = {"DJANGO_SETTINGS_MODULE": SETTINGS, "DJANGO_TEST_DB": str(database.path)}
        self.started: dict[str, Server] = {}

    def __getitem__(self, stack: str) -> Server:
        if stack not in self.started:
            self.started[stack] = STACKS[stack](self.directory / stack, env=self.env)
        return self.started[stack]


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Database:
    return prepare(tmp_path_factory.getbasetemp() / "django")


@pytest.fixture(scope="module")
def servers(database: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    started = Servers(tmp_path_factory.mktemp("django-servers"), database)
    yield started
    for server in started.started.values():
        server.stop()


def new_agent() -> str:
    return f"sstrack-django/{uuid.uuid4().hex}"


def requests_of(server: Server, agent: str, count: int) -> list[Event]:
    """The ``count`` request events sent with ``agent``, checked to be all there are."""
    def mine(event: Event) -> bool:
        return event["user_agent"] == agent and event["event"] == "request"

    server.wait_for_events(mine, count=count)
    time.sleep(4 * FLUSH_INTERVAL)  # a duplicate would have been written by now
    found = server.events(mine)
    assert len(found) == count, found
    return found


@BOTH
def test_one_event_per_request_with_route_and_user(servers: Servers, stack: str,
                                                   database: Database) -> None:
    server, agent = servers[stack], new_agent()
    targets = ["/articles/2024/", "/login/?user=ada", "/me/", "/ame/", "/async/hello/", "/"]
    with httpx.Client(base_url=server.url(), headers={"User-Agent": agent}, timeout=10) as client:
        for target in targets:  # the client keeps the cookies: one visitor, one session
            assert client.get(target).status_code == 200, target
    events = requests_of(server, agent, len(targets))
    assert [event["path"] for event in events] == [target.split("?")[0] for target in targets]
    assert [event["route"] for event in events] == [
        "articles/<int:year>/", "login/", "me/", "ame/", "async/<slug:name>/", ""]
    ada = str(database.ada)
    # /async/hello/ and / never load the user, so sstrack does not either.
    assert [event["user_id"] for event in events] == [None, ada, ada, ada, None, None]
    assert len({(event["visitor_id"], event["session_id"]) for event in events}) == 1
    assert {(event["status"], event["outcome"]) for event in events} == {(200, "completed")}


@BOTH
def test_custom_events_carry_the_requests_visitor_and_session(servers: Servers,
                                                              stack: str) -> None:
    server, agent = servers[stack], new_agent()
    with httpx.Client(base_url=server.url(), headers={"User-Agent": agent}, timeout=10) as client:
        for target in ("/purchase/", "/apurchase/", "/thread/"):
            assert client.get(target).status_code == 200
    requests = {event["path"]: event for event in requests_of(server, agent, 3)}
    custom = server.wait_for_events(
        lambda e: e["user_agent"] == agent and e["event"] != "request", count=4)
    assert sorted((e["event"], e["path"]) for e in custom) == [
        ("from_thread", "/thread/"), ("identify", "/thread/"),
        ("purchase", "/apurchase/"), ("purchase", "/purchase/")]
    for event in custom:  # not route or user_id: see test_django.py, custom events
        request = requests[event["path"]]
        assert (event["visitor_id"], event["session_id"]) == (
            request["visitor_id"], request["session_id"])
    assert requests["/thread/"]["user_id"] == "thread-user"  # identify() from the thread


@BOTH
def test_streams_count_every_chunk(servers: Servers, stack: str) -> None:
    server, agent = servers[stack], new_agent()
    with server.client(headers={"User-Agent": agent}) as client:
        for target in ("/stream/", "/astream/"):
            assert len(client.get(server.url(target)).content) == STREAM_BYTES
        size = len(client.get(server.url("/file/")).content)  # gunicorn: wsgi.file_wrapper
    events = requests_of(server, agent, 3)
    assert [(e["response_bytes"], e["outcome"], e["status"]) for e in events] == [
        (STREAM_BYTES, "completed", 200), (STREAM_BYTES, "completed", 200),
        (size, "completed", 200)]


@pytest.mark.parametrize(("stack", "path"), [
    ("gunicorn", "/stream/"),  # the sync worker's write fails, it closes the response
    ("uvicorn", "/astream/"),  # ASGIHandler cancels the stream, then closes the response
])
def test_client_leaving_mid_stream(servers: Servers, stack: str, path: str,
                                   tmp_path: Path) -> None:
    server, agent = servers[stack], new_agent()
    release = tmp_path / "release"
    target = f"{path}?{urlencode({'release': str(release)})}"
    try:
        abandon_response(server.port, target, {"User-Agent": agent}, FIRST_CHUNK)
    finally:
        release.touch()
    [event] = requests_of(server, agent, 1)
    assert (event["outcome"], event["status"]) == ("disconnected", 200)
    assert len(FIRST_CHUNK) <= event["response_bytes"] < STREAM_BYTES


def test_client_leaving_while_the_view_runs(servers: Servers, tmp_path: Path) -> None:
    """ASGI only: a WSGI server learns of a departed client only when it writes."""
    server, agent = servers["uvicorn"], new_agent()
    started, release = tmp_path / "started", tmp_path / "release"
    target = f"/slow/?{urlencode({'started': str(started), 'release': str(release)})}"
    try:
        hang_up_when(server.port, target, {"User-Agent": agent}, started.exists)
        [event] = requests_of(server, agent, 1)
    finally:
        release.touch()
    assert (event["route"], event["outcome"], event["status"]) == ("slow/", "disconnected", None)


@BOTH
def test_bad_settings_stop_the_server_at_start_up(stack: str, database: Database,
                                                  tmp_path: Path) -> None:
    env = {"DJANGO_SETTINGS_MODULE": SETTINGS, "DJANGO_TEST_DB": str(database.path),
           "DJANGO_TEST_SSTRACK": json.dumps({"session_timeout": "soon"})}
    with pytest.raises(RuntimeError, match="before answering HTTP") as failed:
        STACKS[stack](tmp_path, env=env).stop()
    assert "django.core.exceptions.ImproperlyConfigured" in str(failed.value)
    assert "settings.SSTRACK['session_timeout'] = 'soon'" in str(failed.value)
