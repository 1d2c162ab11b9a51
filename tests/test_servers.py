"""sstrack under real servers: uvicorn + Starlette and gunicorn + Flask on 127.0.0.1.

Each test drives a server subprocess over HTTP and reads the JSON-lines
files its sstrack wrote, so what is checked is what a deployment gets:
the cookies on the wire, one exact event per request, written only after
the response is finished, and nothing lost at SIGTERM or across workers.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from functools import partial
from importlib import resources
from pathlib import Path
from urllib.parse import urlencode

import httpx
import jsonschema
import pytest

from .apps import CACHE_CONTROL, FIRST_CHUNK, HELLO, REST_CHUNKS, STREAM_BYTES
from .servers import (
    FLUSH_INTERVAL,
    HOST,
    Certificates,
    Event,
    Server,
    abandon_response,
    make_certificates,
    read_event_files,
    start_gunicorn,
    start_uvicorn,
)

pytestmark = pytest.mark.timeout(30)

STACKS: dict[str, Callable[..., Server]] = {
    "uvicorn-starlette": partial(start_uvicorn, "tests.apps.starlette_app:app"),
    "gunicorn-flask": partial(start_gunicorn, "tests.apps.flask_app:app"),
}

SCHEMA = json.loads(resources.files("sstrack").joinpath("schemas/event-1.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

UUID4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
ATTRIBUTES = "; Max-Age=63072000; Path=/; HttpOnly; SameSite=Lax"
SECURE_ATTRIBUTES = "; Max-Age=63072000; Path=/; Secure; HttpOnly; SameSite=Lax"
REFERRER = "https://example.org/from?x=1"
ACCEPT_LANGUAGE = "de-CH,de;q=0.9,en;q=0.8"
# uvicorn re-raises the signal once it has shut down cleanly; gunicorn exits 0.
CLEAN_EXITS = (0, -signal.SIGTERM)


# -- fixtures and helpers ------------------------------------------------------------


@pytest.fixture(scope="module", params=sorted(STACKS))
def stack(request: pytest.FixtureRequest) -> str:
    """Which server and framework: every test that takes this runs for each."""
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def server(stack: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server per stack with the default settings, shared by the tests that
    need nothing else; each test tells its own events apart by user agent."""
    started = STACKS[stack](tmp_path_factory.mktemp(stack))
    yield started
    started.stop()


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start a server with this test's settings; it is stopped after the test."""
    started: list[Server] = []

    def start(stack: str, *args: str, env: dict[str, str] | None = None,
              tls: Certificates | None = None) -> Server:
        server = STACKS[stack](tmp_path / f"{stack}-{len(started)}", *args, env=env, tls=tls)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def new_agent() -> str:
    """A User-Agent no other request sends, to find this request's event."""
    return f"sstrack-tests/{uuid.uuid4().hex}"


def by_agent(agent: str) -> Callable[[Event], bool]:
    return lambda event: event["user_agent"] == agent


def query_value(event: Event, param: str) -> str:
    [value] = [str(pair["value"]) for pair in event["query"] if pair["param"] == param]
    return value


def issued_cookies(response: httpx.Response, *, secure: bool) -> dict[str, str]:
    """The values of sstrack's two Set-Cookie headers, checked to be the only
    ones, each with exactly the expected attributes."""
    attributes = SECURE_ATTRIBUTES if secure else ATTRIBUTES
    headers = response.headers.get_list("set-cookie")
    assert len(headers) == 2, headers
    values = {}
    for header in headers:
        assert header.endswith(attributes), header
        name, _, value = header[: -len(attributes)].partition("=")
        values[name] = value
    assert sorted(values) == ["sst_id", "sst_ses"], headers
    assert re.fullmatch(UUID4, values["sst_id"]), headers
    assert re.fullmatch(rf"{UUID4}\.1\.\d+\.\d+", values["sst_ses"]), headers
    return values


def assert_fields(event: Event, expected: Event) -> None:
    """The fields of ``expected`` exactly; any other field is one the schema documents.

    Schema version 1 may gain optional fields (a matched route, say); those
    belong to other tests, but an undocumented field is a mistake.
    """
    assert {key: event.get(key, "<missing>") for key in expected} == expected
    assert set(event) - set(expected) <= set(SCHEMA["properties"]), sorted(event)


def assert_valid_event(event: Event, window: tuple[float, float]) -> None:
    """Schema-valid, and the time fields fit a request made between ``window``'s ends."""
    VALIDATOR.validate(event)
    before, after = window
    stamp = datetime.strptime(event["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ")
    millis = round(stamp.replace(tzinfo=timezone.utc).timestamp() * 1000)
    # sstrack truncates its request-start clock to the millisecond.
    assert int(before * 1000) <= millis <= int(after * 1000), (event["timestamp"], window)
    # UUIDv7: the first 48 bits are that same millisecond.
    assert int(event["event_id"].replace("-", "")[:12], 16) == millis, event
    # No upper bound from the client's clock: under WSGI the server calls
    # close() only after its own post-response work (gunicorn's access log).
    assert event["duration_ms"] >= 0, event


def read_first_chunk(chunks: Iterator[bytes]) -> bytes:
    received = b""
    while len(received) < len(FIRST_CHUNK):
        received += next(chunks)
    return received


def release_target(directory: Path) -> tuple[str, Path]:
    """A ``/stream`` URL target and the file whose creation ends that stream."""
    release = directory / f"release-{uuid.uuid4().hex}"
    return "/stream?" + urlencode({"release": str(release)}), release


# -- 1. cookies and the exact event --------------------------------------------------


def test_cookie_issued_once_then_reused_and_every_field_exact(server: Server) -> None:
    agent = new_agent()
    headers = {"User-Agent": agent, "Referer": REFERRER, "Accept-Language": ACCEPT_LANGUAGE}
    target = "/?a=1&a=2&utm_source=x"
    with server.client() as client:
        before = time.time()
        first = client.get(server.url(target), headers=headers)
        window = (before, time.time())
        assert (first.status_code, first.content) == (200, HELLO)
        cookies = issued_cookies(first, secure=False)
        session_id, _, seen, refreshed = cookies["sst_ses"].split(".")
        assert int(before) <= int(seen) == int(refreshed) <= int(window[1])
        [event] = server.wait_for_events(by_agent(agent))

        cookie = f"sst_id={cookies['sst_id']}; sst_ses={cookies['sst_ses']}"
        before = time.time()
        second = client.get(server.url(target), headers={**headers, "Cookie": cookie})
        second_window = (before, time.time())
        assert (second.status_code, second.content) == (200, HELLO)
        assert second.headers.get_list("set-cookie") == []

    [again] = [e for e in server.wait_for_events(by_agent(agent), count=2)
               if e["event_id"] != event["event_id"]]
    expected = {
        "schema": "sstrack.event/1",
        "event_id": event["event_id"],  # checked by assert_valid_event
        "event": "request",
        "timestamp": event["timestamp"],  # checked by assert_valid_event
        "visitor_id": cookies["sst_id"],
        "session_id": session_id,
        "session_index": 1,
        "user_id": None,
        "method": "GET",
        "scheme": "http",
        "host": server.host,
        "path": "/",
        "query": [{"param": "a", "value": "1"}, {"param": "a", "value": "2"},
                  {"param": "utm_source", "value": "x"}],
        "url": f"http://{server.host}{target}",
        "referrer": REFERRER,
        "user_agent": agent,
        "language": "de",
        "ip": "127.0.0.0",  # the default privacy setting truncates IPv4 to its /24
        "status": 200,
        "response_bytes": len(HELLO),
        "duration_ms": event["duration_ms"],  # checked by assert_valid_event
        "outcome": "completed",
        "stitch": {},
        "properties": {},
    }
    assert_fields(event, expected)
    assert_valid_event(event, window)
    # The returning visitor: same visitor, same session, nothing else changed.
    assert_fields(again, {**expected, "event_id": again["event_id"],
                          "timestamp": again["timestamp"], "duration_ms": again["duration_ms"]})
    assert_valid_event(again, second_window)
    assert len(server.events(by_agent(agent))) == 2


def test_events_go_to_an_hourly_file_per_process(server: Server) -> None:
    agent = new_agent()
    with server.client() as client:
        client.get(server.url("/"), headers={"User-Agent": agent})
    server.wait_for_events(by_agent(agent))
    [(path, event)] = [(path, event) for path, events in read_event_files(server.events_dir).items()
                       for event in events if event["user_agent"] == agent]
    stamp = event["timestamp"]
    hour = [stamp[:4], stamp[5:7], stamp[8:10], stamp[11:13]]
    assert list(path.relative_to(server.events_dir).parts[:-1]) == hour
    host = socket.gethostname().split(".", 1)[0]
    assert re.fullmatch(rf"{re.escape(host)}-\d+\.jsonl", path.name), path


# -- 2. client IP and scheme through proxies -----------------------------------------


@pytest.mark.parametrize("trust", [None, "127.0.0.1", "1"], ids=["untrusted", "cidr", "hops"])
def test_forwarded_headers_count_only_from_trusted_proxies(
        start: Callable[..., Server], stack: str, trust: str | None) -> None:
    # ip_mode=full: this test is about which address is the client's, not its anonymisation
    env = {"SSTRACK_IP_MODE": "full"} | ({"SSTRACK_TRUSTED_PROXIES": trust} if trust else {})
    server = start(stack, env=env)
    agent = new_agent()
    headers = {"User-Agent": agent, "X-Forwarded-For": "203.0.113.9",
               "X-Forwarded-Proto": "https"}
    with server.client() as client:
        before = time.time()
        response = client.get(server.url("/?p=1"), headers=headers)
        window = (before, time.time())
    assert response.status_code == 200
    trusted = trust is not None
    issued_cookies(response, secure=trusted)
    [event] = server.wait_for_events(by_agent(agent))
    assert_valid_event(event, window)
    scheme = "https" if trusted else "http"
    assert (event["ip"], event["scheme"], event["host"], event["url"]) == (
        "203.0.113.9" if trusted else HOST, scheme, server.host, f"{scheme}://{server.host}/?p=1")


# -- 3. real HTTPS -----------------------------------------------------------------


def test_https_cookies_are_secure(start: Callable[..., Server], stack: str,
                                  tmp_path: Path) -> None:
    server = start(stack, tls=make_certificates(tmp_path / "tls"))
    agent = new_agent()
    with server.client() as client:
        before = time.time()
        response = client.get(server.url("/"), headers={"User-Agent": agent})
        window = (before, time.time())
    assert (response.status_code, response.content) == (200, HELLO)
    cookies = issued_cookies(response, secure=True)
    [event] = server.wait_for_events(by_agent(agent))
    assert_valid_event(event, window)
    assert (event["scheme"], event["url"], event["ip"], event["visitor_id"]) == (
        "https", f"https://{server.host}/", "127.0.0.0", cookies["sst_id"])


# -- 4. and 5. after the last byte; disconnects and exceptions ----------------------


def test_event_is_written_only_after_the_last_byte(server: Server, tmp_path: Path) -> None:
    agent = new_agent()
    target, release = release_target(tmp_path)
    before = time.time()
    with server.client() as client, client.stream(
            "GET", server.url(target), headers={"User-Agent": agent}) as response:
        chunks = response.iter_raw()
        first = read_first_chunk(chunks)
        # Many flush intervals: had sstrack queued the event at the first
        # chunk, it would be on disk by now.
        time.sleep(10 * FLUSH_INTERVAL)
        assert server.events(by_agent(agent)) == []
        release.touch()
        body = first + b"".join(chunks)
        after = time.time()
    assert response.status_code == 200
    assert body == FIRST_CHUNK + b"".join(REST_CHUNKS)
    [event] = server.wait_for_events(by_agent(agent))
    assert_valid_event(event, (before, after))
    assert (event["outcome"], event["status"], event["response_bytes"]) == (
        "completed", 200, STREAM_BYTES)
    # The event covers the whole stream, the pause before the release included.
    assert event["duration_ms"] >= 10 * FLUSH_INTERVAL * 1000, event


def test_client_disconnect_is_an_outcome(server: Server, tmp_path: Path) -> None:
    agent = new_agent()
    target, release = release_target(tmp_path)
    abandon_response(server.port, target, {"User-Agent": agent}, until=FIRST_CHUNK)
    # Released after the client left, the server tries to send the rest.
    release.touch()
    [event] = server.wait_for_events(by_agent(agent))
    VALIDATOR.validate(event)
    assert (event["outcome"], event["status"]) == ("disconnected", 200), event
    assert len(FIRST_CHUNK) <= event["response_bytes"] < STREAM_BYTES, event


# Starlette's ServerErrorMiddleware sits outside every user middleware and
# sends the 500 itself, so sstrack saw no response start; Flask turns the
# exception into its own 500 response inside the wrapped wsgi_app.
ERROR_STATUS: dict[str, int | None] = {"uvicorn-starlette": None, "gunicorn-flask": 500}


def test_exception_is_an_outcome(server: Server, stack: str) -> None:
    agent = new_agent()
    with server.client() as client:
        before = time.time()
        response = client.get(server.url("/boom"), headers={"User-Agent": agent})
        window = (before, time.time())
    assert response.status_code == 500
    [event] = server.wait_for_events(by_agent(agent))
    assert_valid_event(event, window)
    assert (event["path"], event["outcome"], event["status"]) == (
        "/boom", "error", ERROR_STATUS[stack]), event


# -- 6. shared caches ------------------------------------------------------------------


def test_shared_cache_response_gets_no_cookie_but_is_tracked(server: Server) -> None:
    agent = new_agent()
    with server.client() as client:
        before = time.time()
        response = client.get(server.url("/cached"), headers={"User-Agent": agent})
        window = (before, time.time())
    assert (response.status_code, response.content) == (200, HELLO)
    assert response.headers["cache-control"] == CACHE_CONTROL
    assert response.headers.get_list("set-cookie") == []
    [event] = server.wait_for_events(by_agent(agent))
    assert_valid_event(event, window)
    assert (event["path"], event["outcome"], event["status"], event["session_index"]) == (
        "/cached", "completed", 200, 1)
    assert re.fullmatch(UUID4, event["visitor_id"]), event


# -- 7. and 8. shutdown and worker processes ------------------------------------------


def test_sigterm_flushes_every_event(start: Callable[..., Server], stack: str) -> None:
    count = 50
    # Nothing is due before shutdown: no timer within the test, no full batch.
    server = start(stack, env={"SSTRACK_FLUSH_INTERVAL": "60", "SSTRACK_BATCH_SIZE": "100000"})
    with server.client() as client:
        for n in range(count):
            assert client.get(server.url(f"/?n={n}")).status_code == 200
    assert server.events() == []
    assert server.stop() in CLEAN_EXITS, server.log()
    numbers = sorted(int(query_value(event, "n")) for event in server.events())
    assert numbers == list(range(count)), server.log()


def test_gunicorn_preload_two_workers_lose_and_duplicate_nothing(
        start: Callable[..., Server]) -> None:
    count = 200
    server = start("gunicorn-flask", "--preload", "--workers", "2")

    def get(n: int) -> int:
        return client.get(server.url(f"/?n={n}")).status_code

    with server.client() as client, ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(get, range(count)))
    assert statuses == [200] * count
    assert server.stop() in CLEAN_EXITS, server.log()
    files = read_event_files(server.events_dir)
    seen = Counter(query_value(event, "n") for events in files.values() for event in events)
    assert seen == Counter(str(n) for n in range(count))
    # One file per worker; the preloading master tracked nothing itself.
    pids = {int(path.stem.rsplit("-", 1)[1]) for path in files}
    assert len(pids) == 2 and server.pid not in pids, sorted(files)
