"""Drive ASGI and WSGI apps in-process with exact bytes, for the table tests.

Real servers normalise or reject hostile input before an app sees it; these
drivers let a test hand the middleware exactly what it wants to try.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any


def http_scope(path: str = "/", *, headers: Iterable[tuple[bytes, bytes]] = (),
               query: bytes = b"", scheme: str = "http", method: str = "GET",
               client: tuple[str, int] | None = ("192.0.2.10", 50000)) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1", "method": method, "scheme": scheme, "path": path,
        "raw_path": path.encode("utf-8", "surrogateescape"), "query_string": query,
        "root_path": "", "headers": list(headers), "client": client,
        "server": ("127.0.0.1", 8000),
    }


def run_asgi(app: Any, scope: dict[str, Any],
             incoming: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Call an ASGI app once; returns every message it sent."""
    sent: list[dict[str, Any]] = []
    queue = list(incoming or [{"type": "http.request", "body": b"", "more_body": False}])

    async def receive() -> dict[str, Any]:
        if queue:
            return queue.pop(0)
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def wsgi_environ(path: str = "/", *, query: str = "", headers: dict[str, str] | None = None,
                 scheme: str = "http", remote: str = "192.0.2.10") -> dict[str, Any]:
    environ = {
        "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": remote, "wsgi.url_scheme": scheme, "wsgi.input": None,
        "wsgi.errors": None, "wsgi.multithread": False, "wsgi.multiprocess": False,
        "wsgi.run_once": False, "wsgi.version": (1, 0),
    }
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def run_wsgi(app: Any, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    """Call a WSGI app as a server would, closing the iterable; returns status, headers, body."""
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured["status"], captured["headers"] = status, headers
        return lambda data: captured.setdefault("written", []).append(data)

    result = app(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return captured["status"], captured["headers"], b"".join(captured.get("written", [])) + body


def without_our_cookies(headers: Iterable[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Response headers minus the Set-Cookie lines sstrack adds."""
    def ours(name: Any, value: Any) -> bool:
        name = name.decode() if isinstance(name, bytes) else name
        value = value.decode() if isinstance(value, bytes) else value
        return name.lower() == "set-cookie" and value.startswith(("sst_id=", "sst_ses="))
    return [(n, v) for n, v in headers if not ours(n, v)]
