"""Views for the tests: sync and async, custom events, streams and slow responses.

``/stream/`` and ``/astream/`` send ``FIRST_CHUNK``, wait until the file
named by ``release`` exists, then send ``REST_CHUNKS`` (see ``tests.apps``).
``/slow/`` and ``/sync-slow/`` touch the file named by ``started`` and answer
only once ``release`` exists: the test hangs up in between.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from django.contrib.auth import get_user_model, login
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse

import sstrack

from ..apps import (
    CACHE_CONTROL,
    CHUNK_PAUSE,
    FIRST_CHUNK,
    RELEASE_POLL,
    RELEASE_TIMEOUT,
    REST_CHUNKS,
    released,
)

__all__ = [
    "article", "async_article", "async_me", "async_purchase", "async_stream", "boom", "cached",
    "file", "home", "in_thread", "log_in", "me", "purchase", "slow", "stream", "sync_slow",
    "with_cookie",
]


def home(request: HttpRequest) -> HttpResponse:
    return HttpResponse("home")  # touches neither the session nor the user


def article(request: HttpRequest, year: int) -> HttpResponse:
    return HttpResponse(f"articles of {year}")


async def async_article(request: HttpRequest, name: str) -> HttpResponse:
    await asyncio.sleep(0)
    return HttpResponse(name)


def me(request: HttpRequest) -> HttpResponse:
    return HttpResponse(request.user.get_username() or "anonymous")


async def async_me(request: HttpRequest) -> HttpResponse:
    user = await request.auser()
    return HttpResponse(user.get_username() or "anonymous")


def log_in(request: HttpRequest) -> HttpResponse:
    user = get_user_model().objects.get(username=request.GET["user"])
    login(request, user)
    sstrack.identify(user.pk, {"plan": "pro"})
    return HttpResponse("welcome")


def purchase(request: HttpRequest) -> HttpResponse:
    sstrack.track("purchase", {"order": "A-17", "total": 42.5})
    return HttpResponse("thanks")


async def async_purchase(request: HttpRequest) -> HttpResponse:
    sstrack.track("purchase", {"order": "A-18", "total": 7})
    return HttpResponse("thanks")


def in_thread(request: HttpRequest) -> HttpResponse:
    def work() -> None:
        sstrack.identify("thread-user")
        sstrack.track("from_thread", {"n": 1})

    worker = threading.Thread(target=contextvars.copy_context().run, args=(work,))
    worker.start()
    worker.join(10)
    return HttpResponse("done")


def _chunks(release: str | None) -> Iterator[bytes]:
    yield FIRST_CHUNK
    deadline = time.monotonic() + RELEASE_TIMEOUT
    while not released(release) and time.monotonic() < deadline:
        time.sleep(RELEASE_POLL)
    for chunk in REST_CHUNKS:
        time.sleep(CHUNK_PAUSE)
        yield chunk


async def _async_chunks(release: str | None) -> AsyncIterator[bytes]:
    yield FIRST_CHUNK
    deadline = time.monotonic() + RELEASE_TIMEOUT
    while not released(release) and time.monotonic() < deadline:
        await asyncio.sleep(RELEASE_POLL)
    for chunk in REST_CHUNKS:
        await asyncio.sleep(CHUNK_PAUSE)
        yield chunk


def stream(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(_chunks(request.GET.get("release")), content_type="text/plain")


async def async_stream(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(_async_chunks(request.GET.get("release")),
                                 content_type="text/plain")


async def slow(request: HttpRequest) -> HttpResponse:
    Path(request.GET["started"]).touch()
    deadline = time.monotonic() + RELEASE_TIMEOUT
    while not released(request.GET["release"]) and time.monotonic() < deadline:
        await asyncio.sleep(RELEASE_POLL)
    return HttpResponse("late")


def sync_slow(request: HttpRequest) -> HttpResponse:
    Path(request.GET["started"]).touch()
    deadline = time.monotonic() + RELEASE_TIMEOUT
    while not released(request.GET["release"]) and time.monotonic() < deadline:
        time.sleep(RELEASE_POLL)
    return HttpResponse("late")


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom")


def file(request: HttpRequest) -> FileResponse:
    return FileResponse(open(__file__, "rb"))  # FileResponse closes it


def cached(request: HttpRequest) -> HttpResponse:
    return HttpResponse("cached", headers={"Cache-Control": CACHE_CONTROL})


def with_cookie(request: HttpRequest) -> HttpResponse:
    response = HttpResponse("cookie")
    response.set_cookie("app", "1")
    response.set_cookie("sst_id", "the-apps-own")  # the app's cookie wins over ours
    return response
