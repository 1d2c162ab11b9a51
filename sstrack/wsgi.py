"""WSGI middleware: Flask, Django's WSGI handler, Bottle, Falcon, any WSGI app.

Usage::

    app.wsgi_app = sstrack.wsgi.TrackingMiddleware(app.wsgi_app)   # Flask
    application = sstrack.wsgi.TrackingMiddleware(application)     # anything else

The record is queued from ``close()`` of the returned iterable, which the
server calls after the last byte is sent. It is a class, not a generator:
a generator's ``finally`` would not run if the server called ``close()``
before iterating. ``wsgi.file_wrapper`` responses are returned as they are
(so ``sendfile`` still works) with their ``close`` hooked instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from time import perf_counter, time
from types import TracebackType
from typing import Any

from . import runtime
from ._log import warn_limited
from .admission import COOKIELESS, admit
from .capture import RequestRecord, is_secure
from .identity import shared_cache_may_store
from .runtime import Tracker
from .tracking import _request, finish_request

__all__ = ["TrackingMiddleware"]

ExcInfo = tuple[type[BaseException], BaseException, TracebackType]
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_HEADERS = (("HTTP_HOST", "host"), ("HTTP_USER_AGENT", "user-agent"),
            ("HTTP_REFERER", "referer"), ("HTTP_ACCEPT_LANGUAGE", "accept-language"))
_FORWARDED = (("HTTP_FORWARDED", "forwarded"), ("HTTP_X_FORWARDED_FOR", "x-forwarded-for"),
              ("HTTP_X_FORWARDED_PROTO", "x-forwarded-proto"),
              ("HTTP_X_FORWARDED_HOST", "x-forwarded-host"))


def _capture(environ: dict[str, Any],
             tracker: Tracker) -> tuple[RequestRecord, list[str]] | None:
    """Capture a request and decide its cookies; ``None`` when it is not tracked."""
    pipeline = tracker.pipeline
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    method = environ.get("REQUEST_METHOD", "GET")
    if pipeline.exclusions.excluded(method, path):
        return None
    started = time()
    cookie = environ.get("HTTP_COOKIE")
    identity = admit(tracker, cookie, environ.get("HTTP_SEC_GPC"), environ.get("HTTP_DNT"),
                     lambda: _all_headers(environ), started)
    if identity is None:
        return None
    # Copy the values now: the app may change environ (ProxyFix does) or a
    # server may reuse it once the response is done.
    wanted = _HEADERS + _FORWARDED if tracker.trust.enabled else _HEADERS
    headers = {name: environ[key] for key, name in wanted if key in environ}
    if cookie and tracker.settings.stitch is not None:
        headers["cookie"] = cookie  # for the client-side ids, read in the worker
    if "host" not in headers and "SERVER_NAME" in environ:
        headers["host"] = f"{environ['SERVER_NAME']}:{environ.get('SERVER_PORT', '')}".rstrip(":")
    record = RequestRecord(started, method, environ.get("wsgi.url_scheme", "http"), path, None,
                           environ.get("QUERY_STRING", ""), headers, environ.get("REMOTE_ADDR"),
                           identity.visitor_id, identity.session_id, identity.session_index)
    record.consented = identity is not COOKIELESS
    return record, identity.set_cookies


def _all_headers(environ: dict[str, Any]) -> dict[str, str]:
    """Every request header by lower-case name, for a consent hook."""
    return {key[5:].replace("_", "-").lower(): value for key, value in environ.items()
            if key.startswith("HTTP_")}


class _Finisher:
    """Queues the record exactly once, with the response's outcome."""

    __slots__ = ("done", "end", "record", "start", "tracker")

    def __init__(self, tracker: Tracker, record: RequestRecord) -> None:
        self.tracker = tracker
        self.record = record
        self.start = perf_counter()
        self.end = 0.0  # when the last chunk was handed to the server, if it was
        self.done = False

    def __call__(self, outcome: str) -> None:
        if self.done:
            return
        self.done = True
        # The server calls close() after its own work (access log, keep-alive
        # bookkeeping); the response was complete when iteration ended.
        self.record.duration = (self.end or perf_counter()) - self.start
        self.record.outcome = outcome
        finish_request(self.record, self.tracker.dispatcher)


class _TrackedResponse:
    """The app's iterable, counted chunk by chunk, finishing the record on ``close()``."""

    __slots__ = ("_completed", "_failed", "_finish", "_result")

    def __init__(self, result: Iterable[bytes], finish: _Finisher) -> None:
        self._result = result
        self._finish = finish
        self._completed = False
        self._failed = False

    def __iter__(self) -> Iterator[bytes]:
        record = self._finish.record
        try:
            for chunk in self._result:
                record.response_bytes += len(chunk)
                yield chunk
        except GeneratorExit:  # the server stopped iterating early
            raise
        except BaseException:
            self._failed = True
            raise
        self._completed = True
        self._finish.end = perf_counter()

    def close(self) -> None:
        try:
            close = getattr(self._result, "close", None)
            if close is not None:
                close()
        finally:
            outcome = ("error" if self._failed
                       else "completed" if self._completed else "disconnected")
            self._finish(outcome)


def _hook_file_wrapper(result: Any, finish: _Finisher, headers: list[Any]) -> bool:
    """Finish on the file wrapper's own ``close`` so the server can still sendfile()."""
    original = getattr(result, "close", None)

    def close() -> None:
        try:
            if original is not None:
                original()
        finally:
            for name, value in headers:
                if name.lower() == "content-length" and value.isdigit():
                    finish.record.response_bytes = int(value)
            finish("completed")

    try:
        result.close = close
    except (AttributeError, TypeError):
        return False
    return True


class TrackingMiddleware:
    """Tracks every request of a WSGI app; see the module docstring.

    Args:
        app: the WSGI application to wrap.
        **options: any sstrack option (see :func:`sstrack.configure`); a bad
            value raises :class:`sstrack.ConfigError` here, at start-up.
    """

    def __init__(self, app: WSGIApp, /, **options: Any) -> None:
        self.app = app
        if options:
            runtime.configure(**options)
        else:
            runtime.current()  # validate the environment now, not on the first request

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        tracker = runtime._current
        if tracker is None or not tracker.enabled:
            return self.app(environ, start_response)
        try:
            captured = _capture(environ, tracker)
        except Exception:
            tracker.dispatcher.drop("internal_error")
            warn_limited("wsgi_begin", "sstrack failed to read a request", exc_info=True)
            captured = None
        if captured is None:  # excluded, not consented (skip mode), or an sstrack bug
            return self.app(environ, start_response)
        record, cookies = captured
        finish = _Finisher(tracker, record)
        response_headers: list[Any] = []

        def tracked_start_response(status: str, headers: list[tuple[str, str]],
                                   exc_info: ExcInfo | None = None) -> Callable[[bytes], object]:
            nonlocal response_headers
            response_headers = headers
            code = status[:3]
            record.status = int(code) if code.isdigit() else 0
            if cookies:
                headers = _cookies_or_unchanged(headers, cookies, environ, tracker)
            write = start_response(status, headers, exc_info)

            def counted_write(data: bytes) -> object:  # the legacy write() callable
                record.response_bytes += len(data)
                return write(data)

            return counted_write

        token = _request.set(record)  # what track() and identify() see
        try:
            result = self.app(environ, tracked_start_response)
        except BaseException:
            finish("error")
            raise
        finally:
            _request.reset(token)
        file_wrapper = environ.get("wsgi.file_wrapper")
        if (isinstance(file_wrapper, type) and isinstance(result, file_wrapper)
                and _hook_file_wrapper(result, finish, response_headers)):
            return result
        return _TrackedResponse(result, finish)


def _cookies_or_unchanged(headers: list[tuple[str, str]], cookies: list[str],
                          environ: dict[str, Any], tracker: Tracker) -> list[tuple[str, str]]:
    try:
        for name, value in headers:
            if name.lower() == "cache-control" and shared_cache_may_store(value):
                return headers
        forwarded = {name: environ[key] for key, name in _FORWARDED if key in environ}
        secure = is_secure(environ.get("wsgi.url_scheme", "http"), environ.get("REMOTE_ADDR"),
                           forwarded, tracker.trust)
        attributes = tracker.cookie_attributes[secure]
        return [*headers, *(("Set-Cookie", cookie + attributes) for cookie in cookies)]
    except Exception:
        tracker.dispatcher.drop("internal_error")
        warn_limited("wsgi_cookie", "sstrack failed to add its cookies", exc_info=True)
        return headers
