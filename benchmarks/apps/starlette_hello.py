"""Hello-world Starlette apps: bare, with sstrack, and with each peer.

Served by ``http_bench.py`` as uvicorn factories, e.g.::

    uvicorn --factory --app-dir benchmarks/apps starlette_hello:with_sstrack
"""

from __future__ import annotations

import os
from typing import Any

from peers import (
    APITALLY_TOKEN,
    CAPTURED_PATH,
    CLOSED_URL,
    HELLO,
    MOESIF_APPLICATION_ID,
    SENTRY_DSN,
    captured,
    count_capture,
    count_with,
)
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

__all__ = ["bare", "with_apitally", "with_moesif", "with_sentry", "with_sstrack"]


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse(HELLO)


def captured_count(request: Request) -> PlainTextResponse:
    # A sync endpoint runs in the thread pool, so sstrack's flush may block here.
    return PlainTextResponse(str(captured()))


def _app(middleware: list[Middleware] | None = None) -> Starlette:
    routes = [Route("/", hello), Route(CAPTURED_PATH, captured_count)]
    return Starlette(routes=routes, middleware=middleware)


def bare() -> Starlette:
    """No tracking: the baseline every ratio is taken against."""
    return _app()


def with_sstrack() -> Starlette:
    """sstrack as documented; options come from SSTRACK_* (http_bench sets the sink)."""
    import sstrack
    from sstrack.asgi import TrackingMiddleware

    count_with(lambda: _written_after_flush(sstrack))
    return _app([Middleware(TrackingMiddleware)])


def with_apitally() -> Starlette:
    """apitally 1.x (OpenTelemetry spans, spooled, exported every 15 s) to a closed port."""
    import apitally.starlette

    os.environ["APITALLY_OTLP_ENDPOINT"] = CLOSED_URL
    app = _app()
    # sample_on_response runs once per captured request; returning None keeps
    # apitally's own decision (sample everything).
    apitally.starlette.init(app, write_token=APITALLY_TOKEN, env="benchmark",
                            sample_on_response=_count_and_keep)
    return app


def with_moesif() -> Starlette:
    """moesifasgi (a BaseHTTPMiddleware) with its defaults, sending to a closed port."""
    from moesifasgi import MoesifMiddleware

    settings = {"APPLICATION_ID": MOESIF_APPLICATION_ID, "BASE_URI": CLOSED_URL,
                "MASK_EVENT_MODEL": _count_and_return}
    return _app([Middleware(MoesifMiddleware, settings=settings)])


def with_sentry() -> Starlette:
    """sentry-sdk's Starlette integration tracing every request, to a closed port."""
    import sentry_sdk

    sentry_sdk.init(dsn=SENTRY_DSN, traces_sample_rate=1.0,
                    before_send_transaction=_count_and_return)
    return _app()


def _count_and_keep(span: Any) -> None:
    count_capture()


def _count_and_return(event: Any, hint: Any = None) -> Any:
    count_capture()
    return event


def _written_after_flush(sstrack: Any) -> int:
    sstrack.flush(5.0)
    return int(sstrack.stats()["written"])
