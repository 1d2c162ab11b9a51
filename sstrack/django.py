"""Django integration: ``"sstrack.django.TrackingMiddleware"`` in ``MIDDLEWARE``.

Put it first, so it times the whole stack and adds its cookies after every
other middleware has run (after ``UpdateCacheMiddleware`` too, so Django's
cache never stores a visitor's cookie)::

    MIDDLEWARE = ["sstrack.django.TrackingMiddleware", ...]
    SSTRACK = {"sinks": "jsonl:/var/lib/sstrack"}  # optional; wins over SSTRACK_* variables

Like Django's own middleware it is sync- and async-capable, so Django calls
it in the mode of the stack around it, with no thread hop. The record is
built from the WSGI environ, or under ``ASGIHandler`` from the ASGI scope
(whose ``META`` has no scheme and a decoded path), and it is queued:

* when Django closes the response after sending it (``response.close()``
  runs ``_resource_closers``), streaming content counted chunk by chunk;
* when ``ASGIHandler`` cancels the view because the client disconnected
  (it then never closes a response);
* under ASGI, when a response is released without having been closed: the
  same disconnect path, seen from a middleware running in sync mode.

``route`` is ``request.resolver_match.route`` (``articles/<int:year>/``);
``user_id`` is the primary key of ``request.user`` if Django's auth
middleware already loaded that user for the view. sstrack never runs the
query itself.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Mapping
from time import perf_counter
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings  # type: ignore[import-untyped]  # Django ships no hints
from django.core.exceptions import ImproperlyConfigured  # type: ignore[import-untyped]
from django.core.handlers.asgi import ASGIRequest  # type: ignore[import-untyped]
from django.core.signals import got_request_exception  # type: ignore[import-untyped]
from django.utils.functional import LazyObject, empty  # type: ignore[import-untyped]

from . import runtime
from ._log import warn_limited
from ._options import configure_labelled
from ._streams import COMPLETED, FAILED, PENDING, AsyncCounter, Counter
from .asgi import _begin as _record_from_scope
from .capture import RequestRecord, asgi_headers, is_secure
from .config import ConfigError
from .identity import shared_cache_may_store
from .runtime import Tracker
from .tracking import _request, finish_request
from .wsgi import _capture as _record_from_environ

__all__ = ["TrackingMiddleware"]

# django.http.HttpRequest and HttpResponseBase, which Django does not type.
Request = Any
Response = Any

def _configure() -> None:
    """Apply ``settings.SSTRACK`` over the environment, or fail like Django does."""
    options = getattr(settings, "SSTRACK", None)
    if options is None:
        options = {}
    elif not isinstance(options, Mapping):
        raise ImproperlyConfigured("settings.SSTRACK must be a dict of sstrack options, e.g. "
                                   "{'sinks': 'jsonl:/var/lib/sstrack'}")
    options = {str(key): value for key, value in options.items()}
    try:
        configure_labelled(options, {key: f"settings.SSTRACK[{key!r}]" for key in options})
    except ConfigError as exc:
        raise ImproperlyConfigured(str(exc)) from exc


def _mark_failed(sender: object, **kwargs: Any) -> None:
    """``got_request_exception``: Django turns the exception into a 500 response; the
    event says ``error``, as it does when an exception reaches a WSGI or ASGI server."""
    record = _request.get()  # the view's context, copied into sync_to_async threads too
    if record is not None:
        record.failed = True


def _user_id(request: Request) -> str | None:
    """The authenticated user's primary key, if the user is already loaded (no query)."""
    state = vars(request)
    user = state.get("user")
    if user is not None and issubclass(type(user), LazyObject):
        # The lazy object's own slot: reading it evaluates nothing.
        user = None if user._wrapped is empty else user._wrapped
    if user is None:
        # What request.user and request.auser() cache once they have run.
        user = state.get("_cached_user") or state.get("_acached_user")
    if user is None or getattr(user, "is_authenticated", False) is not True:
        return None
    pk = getattr(user, "pk", None)
    return None if pk is None else str(pk)


def _route_and_user(request: Request, record: RequestRecord) -> None:
    try:
        match = request.resolver_match
        if record.route is None and match is not None and isinstance(match.route, str):
            record.route = match.route
        if record.user_id is None:  # identify() in the view wins
            record.user_id = _user_id(request)
    except Exception:
        warn_limited("django_route", "sstrack could not read the route or user", exc_info=True)


def _secure(record: RequestRecord, tracker: Tracker) -> bool:
    if not tracker.trust.enabled:
        return record.scheme in ("https", "wss")
    headers = record.headers
    if isinstance(headers, list):  # from the ASGI scope
        headers = asgi_headers(headers)
    peer = record.peer
    if peer is not None and not isinstance(peer, str):
        peer = peer[0]
    return is_secure(record.scheme, peer, headers, tracker.trust)


def _add_cookies(response: Response, cookies: list[str], secure: bool, tracker: Tracker) -> None:
    cache_control = response.get("Cache-Control")
    if cache_control and shared_cache_may_store(cache_control):
        return
    policy = tracker.policy
    for pair in cookies:
        name, _, value = pair.partition("=")
        if name not in response.cookies:  # never replace a cookie the app set itself
            response.set_cookie(name, value, max_age=policy.max_age, domain=policy.domain,
                                secure=secure or policy.always_secure, httponly=True,
                                samesite=policy.samesite.capitalize())


class _Tracked:
    """One request's record, queued exactly once: on close, on cancel, or on release."""

    __slots__ = ("asgi", "cookies", "done", "finalizer", "record", "request", "response",
                 "start", "stream", "tracker")

    def __init__(self, tracker: Tracker, record: RequestRecord, cookies: list[str],
                 request: Request, asgi: bool) -> None:
        self.tracker = tracker
        self.record = record
        self.cookies = cookies
        self.request: Request | None = request
        self.asgi = asgi
        self.start = perf_counter()
        self.done = False
        self.stream: int | None = None  # PENDING.. once streaming content is wrapped
        # Weak: the response holds us (a closer), and must stay collectable for the fallback.
        self.response: weakref.ref[Any] | None = None
        self.finalizer: weakref.finalize[Any, Any] | None = None

    def attach(self, response: Response) -> None:
        """Add the cookies and hook the response, so the record is queued when it is closed."""
        try:
            self.record.status = response.status_code
            if self.cookies:
                try:
                    _add_cookies(response, self.cookies, _secure(self.record, self.tracker),
                                 self.tracker)
                except Exception:
                    self.tracker.dispatcher.drop("internal_error")
                    warn_limited("django_cookie", "sstrack failed to add its cookies",
                                 exc_info=True)
            # A file response keeps its file, so the WSGI server can still sendfile() it.
            if response.streaming and getattr(response, "file_to_stream", None) is None:
                counter = AsyncCounter if response.is_async else Counter
                response.streaming_content = counter(response.streaming_content, self)
                self.stream = PENDING
            self.response = weakref.ref(response)
            response._resource_closers.append(self.closed)
            if self.asgi:  # ASGIHandler skips close() when the client disconnects
                self.finalizer = weakref.finalize(response, self.finish, "disconnected")
                self.finalizer.atexit = False
        except Exception:
            self.done = True
            self.tracker.dispatcher.drop("internal_error")
            warn_limited("django_response", "sstrack failed to hook a response", exc_info=True)

    def closed(self) -> None:
        """``response.close()`` ran: the server has sent the response, or given up on it."""
        if self.finalizer is not None:
            self.finalizer.detach()
        outcome = "completed"
        if self.stream is not None:
            outcome = ("completed" if self.stream == COMPLETED
                       else "error" if self.stream == FAILED else "disconnected")
        try:
            response = self.response() if self.response is not None else None
            if response is not None:
                self.record.status = response.status_code  # as outer middleware left it
                if not response.streaming:
                    self.record.response_bytes = len(response.content)
                elif self.stream is None:  # a file, sent by the server as announced
                    length = response.get("Content-Length")
                    if length and length.isdigit():
                        self.record.response_bytes = int(length)
        except Exception:
            warn_limited("django_close", "sstrack could not read a response", exc_info=True)
        self.finish(outcome)

    def finish(self, outcome: str) -> None:
        """Queue the record with ``outcome`` (once); never raises."""
        if self.done:
            return
        self.done = True
        record = self.record
        record.duration = perf_counter() - self.start
        record.outcome = outcome
        request, self.request = self.request, None
        if request is not None:
            _route_and_user(request, record)
        finish_request(record, self.tracker.dispatcher)


def _outcome(exc: BaseException) -> str:
    # ASGIHandler cancels the view when the client disconnects and then closes
    # no response, so this is the only notice. asgiref carries the cancellation
    # through async_to_sync, so a middleware in sync mode sees it too.
    return "disconnected" if isinstance(exc, asyncio.CancelledError) else "error"


def _begin(request: Request) -> _Tracked | None:
    tracker = runtime._current
    if tracker is None or not tracker.enabled:
        return None
    try:
        asgi = isinstance(request, ASGIRequest)
        begun = (_record_from_scope(request.scope, tracker) if asgi
                 else _record_from_environ(request.META, tracker))
        if begun is None:  # excluded, or not consented (in skip mode)
            return None
        return _Tracked(tracker, *begun, request, asgi)
    except Exception:
        tracker.dispatcher.drop("internal_error")
        warn_limited("django_begin", "sstrack failed to read a request", exc_info=True)
        return None


class TrackingMiddleware:
    """Tracks every request Django handles; see the module docstring.

    Args:
        get_response: the next handler, as Django passes it.

    Raises:
        ImproperlyConfigured: at start-up, for an invalid ``settings.SSTRACK``
            or ``SSTRACK_*`` variable, listing every problem.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[Request], Any]) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            # Django then awaits self(request); __call__ hands over to __acall__.
            markcoroutinefunction(self)
        _configure()
        got_request_exception.connect(_mark_failed, dispatch_uid="sstrack.django")

    def __call__(self, request: Request) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        tracked = _begin(request)
        if tracked is None:
            return self.get_response(request)
        token = _request.set(tracked.record)  # what track() and identify() see
        try:
            response = self.get_response(request)
        except BaseException as exc:
            tracked.finish(_outcome(exc))
            raise
        finally:
            _request.reset(token)
        tracked.attach(response)
        return response

    async def __acall__(self, request: Request) -> Any:
        """The async path, used when the stack below is async (ASGI)."""
        tracked = _begin(request)
        if tracked is None:
            return await self.get_response(request)
        token = _request.set(tracked.record)
        try:
            response = await self.get_response(request)
        except BaseException as exc:
            tracked.finish(_outcome(exc))
            raise
        finally:
            _request.reset(token)
        tracked.attach(response)
        return response
