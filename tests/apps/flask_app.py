"""A Flask app wrapped with sstrack's WSGI middleware (see ``apps`` for the endpoints)."""

from __future__ import annotations

import time
from collections.abc import Iterator

from flask import Flask, Response, got_request_exception, request

from sstrack.tracking import current_request
from sstrack.wsgi import TrackingMiddleware

from . import (
    CACHE_CONTROL,
    CHUNK_PAUSE,
    FIRST_CHUNK,
    HELLO,
    RELEASE_POLL,
    RELEASE_TIMEOUT,
    REST_CHUNKS,
    released,
)

__all__ = ["app"]

app = Flask(__name__)


def _mark_failed(sender: Flask, exception: BaseException, **extra: object) -> None:
    # Flask turns the view's exception into its own 500 response, so the WSGI
    # middleware never sees it raise; the framework tells us instead.
    record = current_request()
    if record is not None:
        record.failed = True


got_request_exception.connect(_mark_failed, app)


@app.get("/")
def hello() -> Response:
    return Response(HELLO, mimetype="text/plain")


def _chunks(release: str | None) -> Iterator[bytes]:
    yield FIRST_CHUNK
    deadline = time.monotonic() + RELEASE_TIMEOUT
    while not released(release) and time.monotonic() < deadline:
        time.sleep(RELEASE_POLL)
    for chunk in REST_CHUNKS:
        time.sleep(CHUNK_PAUSE)
        yield chunk


@app.get("/stream")
def stream() -> Response:
    # The generator needs nothing from the request, so no stream_with_context.
    return Response(_chunks(request.args.get("release")), mimetype="text/plain")


@app.get("/boom")
def boom() -> Response:
    raise RuntimeError("boom")


@app.get("/cached")
def cached() -> Response:
    return Response(HELLO, mimetype="text/plain", headers={"Cache-Control": CACHE_CONTROL})


app.wsgi_app = TrackingMiddleware(app.wsgi_app)  # type: ignore[method-assign]
