from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import sstrack
from sstrack.wsgi import TrackingMiddleware

from .drive import run_wsgi, without_our_cookies, wsgi_environ

Events = Callable[[], list[dict[str, Any]]]


def hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Set-Cookie", "app=1")])
    return [b"hello ", b"world"]


def test_a_request_becomes_one_event(tracked: Callable[..., Events]) -> None:
    events = tracked(ip_mode="full")
    environ = wsgi_environ("/caf\xc3\xa9", query="q=caf%C3%A9&q=2", headers={
        "Host": "shop.example", "User-Agent": "Mozilla/5.0 \xe2\x9c\x93",
        "Accept-Language": "fr-CA", "Cookie": "x=1", "Authorization": "Basic c2VjcmV0"})
    status, _, body = run_wsgi(TrackingMiddleware(hello), environ)
    assert (status, body) == ("200 OK", b"hello world")
    (event,) = events()
    assert event["path"] == "/café"
    assert event["url"] == "http://shop.example/caf%C3%A9?q=caf%C3%A9&q=2"
    assert event["query"] == [{"param": "q", "value": "café"}, {"param": "q", "value": "2"}]
    assert event["user_agent"] == "Mozilla/5.0 ✓"
    assert (event["language"], event["ip"], event["status"]) == ("fr", "192.0.2.10", 200)
    assert (event["response_bytes"], event["outcome"]) == (11, "completed")
    assert "c2VjcmV0" not in repr(event)


def test_host_falls_back_to_server_name(tracked: Callable[..., Events]) -> None:
    events = tracked()
    run_wsgi(TrackingMiddleware(hello), wsgi_environ())
    assert events()[0]["host"] == "127.0.0.1:8000"


def test_cookies_are_appended_and_reused(tracked: Callable[..., Events]) -> None:
    events = tracked()
    _, headers, _ = run_wsgi(TrackingMiddleware(hello), wsgi_environ())
    set_cookies = [v for k, v in headers if k == "Set-Cookie"]
    assert set_cookies[0] == "app=1" and len(set_cookies) == 3
    jar = "; ".join(v.split(";")[0] for v in set_cookies[1:])
    _, again, _ = run_wsgi(TrackingMiddleware(hello), wsgi_environ(headers={"Cookie": jar}))
    assert [v for k, v in again if k == "Set-Cookie"] == ["app=1"]
    first, second = events()
    assert first["visitor_id"] == second["visitor_id"]


def test_trusted_proxy_sets_ip_scheme_and_secure(tracked: Callable[..., Events]) -> None:
    events = tracked(trusted_proxies="1", ip_mode="full")
    environ = wsgi_environ(remote="10.0.0.2", headers={
        "X-Forwarded-For": "198.51.100.1, 203.0.113.9", "X-Forwarded-Proto": "https"})
    _, headers, _ = run_wsgi(TrackingMiddleware(hello), environ)
    assert all("; Secure;" in v for k, v in headers if v.startswith("sst_"))
    event = events()[0]
    assert (event["ip"], event["scheme"]) == ("203.0.113.9", "https")


def test_close_before_iteration_still_records(tracked: Callable[..., Events]) -> None:
    events = tracked()
    closed: list[bool] = []

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            yield b"never"

        def close(self) -> None:
            closed.append(True)

    def app(environ: dict[str, Any], start_response: Any) -> Body:
        start_response("200 OK", [])
        return Body()

    result = TrackingMiddleware(app)(wsgi_environ(), lambda s, h, e=None: None)
    result.close()  # type: ignore[attr-defined]
    assert closed == [True]
    assert events()[0]["outcome"] == "disconnected"


def test_stream_counts_every_chunk_and_write_calls(tracked: Callable[..., Events]) -> None:
    events = tracked()

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        write = start_response("200 OK", [])
        write(b"legacy")
        yield b"a"
        yield b"bc"

    _, _, body = run_wsgi(TrackingMiddleware(app), wsgi_environ())
    assert body == b"legacyabc"
    assert events()[0]["response_bytes"] == 9


def test_errors_propagate_unchanged_with_exc_info(tracked: Callable[..., Events]) -> None:
    events = tracked()
    calls: list[Any] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        try:
            raise KeyError("boom")
        except KeyError:
            start_response("500 Internal Server Error", [], sys.exc_info())
        return [b"sorry"]

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        calls.append(exc_info)
        return lambda data: None

    result = TrackingMiddleware(app)(wsgi_environ(), start_response)
    assert b"".join(result) == b"sorry"
    result.close()  # type: ignore[attr-defined]
    assert calls[0][0] is KeyError
    assert events()[0]["status"] == 500

    error = RuntimeError("app failed")

    def failing(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise error

    with pytest.raises(RuntimeError) as caught:
        TrackingMiddleware(failing)(wsgi_environ(), start_response)
    assert caught.value is error
    assert events()[1]["outcome"] == "error"


def test_error_while_iterating_is_recorded(tracked: Callable[..., Events]) -> None:
    events = tracked()

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [])
        yield b"partial"
        raise OSError("backend gone")

    with pytest.raises(OSError, match="backend gone"):
        run_wsgi(TrackingMiddleware(app), wsgi_environ())
    event = events()[0]
    assert (event["outcome"], event["response_bytes"]) == ("error", 7)


class FileWrapper:
    """Like a server's wsgi.file_wrapper: the server checks its type to use sendfile."""

    def __init__(self, filelike: Any, blksize: int = 8192) -> None:
        self.filelike = filelike

    def __iter__(self) -> Iterator[bytes]:
        yield self.filelike.read()

    def close(self) -> None:
        self.filelike.close()


def test_file_wrapper_is_returned_as_is(tracked: Callable[..., Events]) -> None:
    events = tracked()
    data = io.BytesIO(b"0123456789")

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Length", "10")])
        return environ["wsgi.file_wrapper"](data)

    environ = wsgi_environ()
    environ["wsgi.file_wrapper"] = FileWrapper
    result = TrackingMiddleware(app)(environ, lambda s, h, e=None: None)
    assert isinstance(result, FileWrapper)  # so the server can still sendfile()
    assert b"".join(result) == b"0123456789"
    result.close()
    assert data.closed
    event = events()[0]
    assert (event["response_bytes"], event["outcome"]) == (10, "completed")


def test_bug_in_sstrack_never_reaches_the_app(tracked: Callable[..., Events],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    tracked()

    def bug(*args: Any) -> Any:
        raise RuntimeError("sstrack bug")

    monkeypatch.setattr("sstrack.admission.resolve_identity", bug)
    assert run_wsgi(TrackingMiddleware(hello), wsgi_environ()) == run_wsgi(hello, wsgi_environ())
    assert sstrack.stats()["dropped"]["internal_error"] == 1


def test_flask_wsgi_app(tracked: Callable[..., Events]) -> None:
    from flask import Flask

    events = tracked()
    app = Flask(__name__)

    @app.get("/hello/<name>")
    def greet(name: str) -> str:
        return f"hi {name}"

    app.wsgi_app = TrackingMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    client = app.test_client()
    # Werkzeug's test client closes the app's iterable (and so lets us record
    # the request) only for buffered responses or once the response is closed.
    response = client.get("/hello/ada", buffered=True)
    assert response.data == b"hi ada"
    assert without_our_cookies(response.headers.items()) != list(response.headers.items())
    assert client.get("/hello/bob", buffered=True).headers.get("Set-Cookie") is None
    first, second = events()
    assert first["path"] == "/hello/ada" and first["visitor_id"] == second["visitor_id"]
