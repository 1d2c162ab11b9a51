"""sstrack in one command: serve a tiny WSGI app, visit it, and print the events it wrote.

    python examples/quickstart.py

Nothing to install besides sstrack: the app runs on the standard library's
wsgiref server on 127.0.0.1, and events land in ./sstrack-events, the
default JSON-lines sink.
"""

from __future__ import annotations

import http.cookiejar
import json
import pathlib
import threading
import urllib.request
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import sstrack
from sstrack.wsgi import TrackingMiddleware

EVENTS_DIR = pathlib.Path("sstrack-events")


def shop(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """The application: any WSGI app works the same way."""
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [f"You are looking at {environ['PATH_INFO']}\n".encode()]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    app = TrackingMiddleware(shop)  # default sink: jsonl:./sstrack-events
    server = make_server("127.0.0.1", 0, app, handler_class=QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"

    # A browser with a cookie jar: the first response sets sst_id and
    # sst_ses, the next requests send them back and stay one visitor.
    browser = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    browser.addheaders = [("User-Agent", "Mozilla/5.0 (quickstart)"),
                          ("Accept-Language", "en-GB,en;q=0.9")]
    for path in ("/", "/products?utm_source=newsletter&id=7&id=8", "/checkout"):
        with browser.open(base + path) as response:
            response.read()
            print(f"GET {path} -> {response.status}",
                  "(sets cookies)" if response.headers.get_all("Set-Cookie") else "")
    server.shutdown()
    sstrack.flush()  # the worker writes in the background; make sure it has

    files = sorted(EVENTS_DIR.rglob("*.jsonl"), key=lambda p: p.stat().st_mtime)
    print(f"\nEvents in {files[-1]}:")
    for line in files[-1].read_text().splitlines()[-3:]:
        event = json.loads(line)
        print(json.dumps({k: event[k] for k in ("timestamp", "visitor_id", "session_index",
                                                "path", "query", "status", "duration_ms")}))


if __name__ == "__main__":
    main()
