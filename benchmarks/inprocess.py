"""Drive sstrack's middlewares in-process the way a server would, with a real browser's request.

Shared by ``micro.py``, ``sink_throughput.py`` and ``memory_bound.py``: a
hello-world ASGI and WSGI app, the scope or environ uvicorn or gunicorn
would pass for ``visitor.PATH`` with the headers of ``visitor.py``, and
loops that run N requests through an app without any server or event loop.
"""

from __future__ import annotations

from typing import Any

import visitor

import sstrack
from sstrack.asgi import TrackingMiddleware as AsgiTracking

__all__ = [
    "BODY",
    "START",
    "asgi_hello",
    "asgi_requests",
    "asgi_scope",
    "captured_records",
    "receive",
    "run_to_end",
    "send",
    "start_response",
    "wsgi_environ",
    "wsgi_hello",
    "wsgi_requests",
]

HELLO = b"Hello, world!"
START = {"type": "http.response.start", "status": 200,
         "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"13")]}
BODY = {"type": "http.response.body", "body": HELLO}
REQUEST = {"type": "http.request", "body": b"", "more_body": False}


async def asgi_hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send(START)
    await send(BODY)


async def receive() -> dict[str, Any]:
    return REQUEST


async def send(message: dict[str, Any]) -> None:
    return None


def wsgi_hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"),
                              ("Content-Length", "13")])
    return [HELLO]


def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
    return None


def asgi_scope(returning: bool) -> dict[str, Any]:
    """What uvicorn passes for ``GET visitor.PATH``."""
    path, _, query = visitor.PATH.partition("?")
    headers = [(b"host", b"shop.example")]
    headers += [(name.encode(), value.encode("latin-1"))
                for name, value in visitor.browser_headers(returning)
                if returning or name != "cookie"]
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
            "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
            "query_string": query.encode(), "headers": headers,
            "client": ("203.0.113.9", 52114), "server": ("127.0.0.1", 8000)}


def wsgi_environ(returning: bool) -> dict[str, Any]:
    """What gunicorn passes for ``GET visitor.PATH`` (PEP 3333)."""
    path, _, query = visitor.PATH.partition("?")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "203.0.113.9", "REMOTE_PORT": "52114", "wsgi.url_scheme": "http",
        "HTTP_HOST": "shop.example"}
    for name, value in visitor.browser_headers(returning):
        if returning or name != "cookie":
            environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def run_to_end(coroutine: Any) -> None:
    """Run a coroutine that never waits on anything, without an event loop."""
    try:
        coroutine.send(None)
    except StopIteration:
        return
    raise RuntimeError("the app awaited something: it needs an event loop")


def asgi_requests(app: Any, scope: dict[str, Any], n: int, fresh: bool = False) -> None:
    """Run ``n`` requests; a new scope and header list each, as a server builds them.

    With ``fresh``, every header name and value is a new bytes object too, as
    a server parses them from the socket: what a queued record keeps alive
    is then the real amount (otherwise all requests share the same bytes).
    """
    headers = scope["headers"]
    for _ in range(n):
        if fresh:
            headers = [(bytes(bytearray(k)), bytes(bytearray(v))) for k, v in scope["headers"]]
        run_to_end(app({**scope, "headers": list(headers)}, receive, send))


def wsgi_requests(app: Any, environ: dict[str, Any], n: int) -> None:
    for _ in range(n):
        result = app(dict(environ), start_response)
        for _chunk in result:
            pass
        close = getattr(result, "close", None)  # servers call close() after the last byte
        if close is not None:
            close()


def captured_records(n: int, fresh: bool = False) -> list[Any]:
    """``n`` records exactly as the ASGI middleware queues them for the returning visitor."""
    dispatcher = sstrack.runtime.current().dispatcher
    records: list[Any] = []
    dispatcher.put = records.append  # type: ignore[method-assign]  # this instance only
    try:
        asgi_requests(AsgiTracking(asgi_hello), asgi_scope(True), n, fresh)
    finally:
        del dispatcher.put
    return records
