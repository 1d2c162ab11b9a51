"""A Starlette app wrapped with sstrack's ASGI middleware (see ``apps`` for the endpoints)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from time import monotonic

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from sstrack.asgi import TrackingMiddleware

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


async def hello(request: Request) -> Response:
    return PlainTextResponse(HELLO)


async def _chunks(release: str | None) -> AsyncIterator[bytes]:
    yield FIRST_CHUNK
    deadline = monotonic() + RELEASE_TIMEOUT
    while not released(release) and monotonic() < deadline:
        await asyncio.sleep(RELEASE_POLL)
    for chunk in REST_CHUNKS:
        await asyncio.sleep(CHUNK_PAUSE)
        yield chunk


async def stream(request: Request) -> Response:
    return StreamingResponse(_chunks(request.query_params.get("release")),
                             media_type="text/plain")


async def boom(request: Request) -> Response:
    raise RuntimeError("boom")


async def cached(request: Request) -> Response:
    return PlainTextResponse(HELLO, headers={"Cache-Control": CACHE_CONTROL})


app = Starlette(routes=[
    Route("/", hello),
    Route("/stream", stream),
    Route("/boom", boom),
    Route("/cached", cached),
])
app.add_middleware(TrackingMiddleware)
