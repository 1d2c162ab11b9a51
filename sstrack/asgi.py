"""Pure ASGI middleware: FastAPI, Starlette, Django's ASGI handler, any ASGI 3 app.

Usage::

    app.add_middleware(sstrack.asgi.TrackingMiddleware)   # FastAPI / Starlette
    app = sstrack.asgi.TrackingMiddleware(app)             # anything else

Per request it reads the Cookie header, decides the visitor and session,
wraps ``send`` (and ``receive``, to notice a disconnect) in closures, and
queues one record once the final body chunk has been sent, or when the app
fails or the client goes away. Everything else happens in the background.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from time import perf_counter, time
from typing import Any

from . import runtime
from ._log import warn_limited
from .admission import COOKIELESS, admit
from .capture import RequestRecord, asgi_headers, is_secure
from .identity import shared_cache_may_store
from .runtime import Tracker
from .tracking import _request, finish_request

__all__ = ["TrackingMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _outcome(exc: BaseException, disconnected: bool) -> str:
    """Classify an exception out of the app: the client leaving, or a failure."""
    if disconnected or isinstance(exc, OSError | asyncio.CancelledError):
        return "disconnected"
    # Starlette's ClientDisconnect and uvicorn's ClientDisconnected are not OSErrors
    # in every version; match them by name rather than importing either.
    return "disconnected" if "ClientDisconnect" in type(exc).__name__ else "error"


def _with_cookies(message: Message, cookies: list[str], scope: Scope,
                  tracker: Tracker) -> Message:
    """The ``http.response.start`` message with our Set-Cookie headers appended."""
    headers = message.get("headers") or []
    for name, value in headers:
        if name.lower() == b"cache-control" and shared_cache_may_store(value.decode("latin-1")):
            return message
    client = scope.get("client")
    secure = is_secure(scope.get("scheme", "http"), client[0] if client else None,
                       asgi_headers(scope["headers"]), tracker.trust)
    attributes = tracker.cookie_attributes[secure]
    added = [(b"set-cookie", (cookie + attributes).encode("latin-1")) for cookie in cookies]
    return {**message, "headers": [*headers, *added]}


class TrackingMiddleware:
    """Tracks every HTTP request of an ASGI app; see the module docstring.

    Args:
        app: the ASGI application to wrap.
        **options: any sstrack option (see :func:`sstrack.configure`); when
            given they configure sstrack for the process, and a bad value
            raises :class:`sstrack.ConfigError` here, at start-up.
    """

    def __init__(self, app: ASGIApp | None = None, /, **options: Any) -> None:
        # Positional for type checkers (Starlette's middleware protocol takes
        # app positional-only), by keyword for Starlette before 0.38.
        wrapped = app if app is not None else options.pop("app", None)
        if wrapped is None:
            raise TypeError("TrackingMiddleware needs the ASGI app to wrap")
        self.app: ASGIApp = wrapped
        if options:
            runtime.configure(**options)
        else:
            runtime.current()  # validate the environment now, not on the first request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self.app(scope, receive, _flushing_lifespan_send(send))
            else:  # websocket and anything newer pass through untouched
                await self.app(scope, receive, send)
            return
        tracker = runtime._current
        if tracker is None or not tracker.enabled:
            await self.app(scope, receive, send)
            return
        try:
            begun = _begin(scope, tracker)
        except Exception:
            tracker.dispatcher.drop("internal_error")
            warn_limited("asgi_begin", "sstrack failed to read a request", exc_info=True)
            begun = None
        if begun is None:  # excluded, not consented (skip mode), or an sstrack bug
            await self.app(scope, receive, send)
            return
        await _track(self.app, scope, receive, send, tracker, *begun)


def _begin(scope: Scope, tracker: Tracker) -> tuple[RequestRecord, list[str]] | None:
    """Capture a request and decide its cookies; ``None`` when it is not tracked."""
    pipeline = tracker.pipeline
    if pipeline.exclusions.excluded(scope["method"], scope["path"]):
        return None
    started = time()
    headers = scope["headers"]
    cookie = gpc = dnt = None
    for name, value in headers:
        if name in _CONSENT_HEADERS:
            if name == b"cookie":  # HTTP/2 may split cookies over several headers
                cookie = value if cookie is None else cookie + b"; " + value
            elif name == b"sec-gpc":
                gpc = value.decode("latin-1")
            else:
                dnt = value.decode("latin-1")
    identity = admit(tracker, cookie.decode("latin-1") if cookie else None, gpc, dnt,
                     lambda: _all_headers(headers), started)
    if identity is None:
        return None
    record = RequestRecord(started, scope["method"], scope.get("scheme", "http"), scope["path"],
                           scope.get("raw_path"), scope.get("query_string", b""), headers,
                           scope.get("client"), identity.visitor_id, identity.session_id,
                           identity.session_index)
    record.consented = identity is not COOKIELESS
    return record, identity.set_cookies


_CONSENT_HEADERS = frozenset({b"cookie", b"sec-gpc", b"dnt"})


def _all_headers(headers: Any) -> dict[str, str]:
    """Every request header, for a consent hook (only built when one is configured)."""
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in headers}


def _route_of_endpoint(scope: Scope) -> Any:
    """Older Starlette leaves only the endpoint: find the top-level route serving it.

    Routes inside a Mount are not searched; for them ``route`` stays null
    rather than naming the wrong pattern.
    """
    endpoint = scope.get("endpoint")
    for route in getattr(scope.get("router"), "routes", ()) if endpoint is not None else ():
        if getattr(route, "endpoint", None) is endpoint:
            match = route.matches(scope)[0]
            if getattr(match, "name", None) == "FULL":
                return route
    return None


def _route_and_user(scope: Scope, record: RequestRecord, root_path: str) -> None:
    """Read what Starlette/FastAPI routing and authentication left in the scope."""
    try:
        route = getattr(scope.get("route") or _route_of_endpoint(scope), "path", None)
        if record.route is None and isinstance(route, str):
            # inside a Mount, the route's path is relative to the mount point
            record.route = scope.get("root_path", "")[len(root_path):] + route
        user = scope.get("user")
        if record.user_id is None and getattr(user, "is_authenticated", False):
            try:
                record.user_id = str(user.identity)  # type: ignore[union-attr]
            except NotImplementedError:
                record.user_id = str(user.display_name)  # type: ignore[union-attr]
    except Exception:
        warn_limited("asgi_route", "sstrack could not read the route or user", exc_info=True)


async def _track(app: ASGIApp, scope: Scope, receive: Receive, send: Send, tracker: Tracker,
                 record: RequestRecord, cookies: list[str]) -> None:
    start = perf_counter()
    done = disconnected = False
    root_path = scope.get("root_path", "")

    def finish(outcome: str) -> None:
        nonlocal done
        done = True
        record.duration = perf_counter() - start
        record.outcome = outcome
        if "route" in scope or "endpoint" in scope or "user" in scope:
            _route_and_user(scope, record, root_path)
        finish_request(record, tracker.dispatcher)

    async def tracked_receive() -> Message:
        nonlocal disconnected
        message = await receive()
        if message["type"] == "http.disconnect":
            disconnected = True
        return message

    async def tracked_send(message: Message) -> None:
        nonlocal disconnected
        kind = message["type"]
        if kind == "http.response.body":
            record.response_bytes += len(message.get("body", b""))
            final = not message.get("more_body", False)
        else:
            final = False
            if kind == "http.response.start":
                record.status = message["status"]
                if cookies:
                    message = _cookies_or_unchanged(message, cookies, scope, tracker)
        try:
            await send(message)
        except OSError:
            disconnected = True
            raise
        if final and not done:
            finish("completed")

    token = _request.set(record)  # what track() and identify() see
    try:
        await app(scope, tracked_receive, tracked_send)
    except BaseException as exc:
        if not done:
            finish(_outcome(exc, disconnected))
        raise
    finally:
        _request.reset(token)
    if not done:  # returned without finishing the body
        finish("disconnected" if disconnected else "error")


def _cookies_or_unchanged(message: Message, cookies: list[str], scope: Scope,
                          tracker: Tracker) -> Message:
    try:
        return _with_cookies(message, cookies, scope, tracker)
    except Exception:
        tracker.dispatcher.drop("internal_error")
        warn_limited("asgi_cookie", "sstrack failed to add its cookies", exc_info=True)
        return message


def _flushing_lifespan_send(send: Send) -> Send:
    """Wrap a lifespan ``send`` so sstrack flushes once the app's shutdown is done."""

    async def lifespan_send(message: Message) -> None:
        if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
            await _flush_in_thread()
        await send(message)

    return lifespan_send


async def _flush_in_thread() -> None:
    tracker = runtime._current
    if tracker is None:
        return
    try:
        # flush() waits on the worker thread; never block the event loop on it.
        await asyncio.get_running_loop().run_in_executor(
            None, tracker.dispatcher.flush, tracker.config.shutdown_timeout)
    except RuntimeError:  # not asyncio (trio): a short blocking flush at shutdown
        tracker.dispatcher.flush(tracker.config.shutdown_timeout)
    except Exception:
        warn_limited("lifespan_flush", "sstrack failed to flush at shutdown", exc_info=True)
