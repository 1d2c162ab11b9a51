"""Custom events from application code: :func:`track` and :func:`identify`.

Inside a request (the middleware sets a context variable) an event inherits
the request's visitor, session, URL, IP, user agent and stitch ids. That
includes threads the view starts with ``contextvars.copy_context().run``.
Outside any request (a Celery task, a cron job) the caller passes
``visitor_id`` and/or ``user_id``.

Names and properties are validated here, on the caller's thread, so that
a mistake is reported where it was made. In strict mode
(``SSTRACK_STRICT=true``, for development and tests) it raises
``ValueError``; otherwise it is logged, counted as ``dropped.invalid``, and
the request goes on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from contextvars import ContextVar
from time import time
from typing import Any

import orjson

from . import runtime
from ._log import warn_limited
from .capture import CaptureSettings, RequestRecord
from .dispatcher import Dispatcher
from .event import SCHEMA, rfc3339, uuid7

__all__ = ["CustomRecord", "current_request", "finish_request", "identify", "track"]

_request: ContextVar[RequestRecord | None] = ContextVar("sstrack_request", default=None)
current_request = _request.get
"""The record of the request being handled in this context, or ``None``."""

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.:\- ]{0,127}")
RESERVED = frozenset({"request", "identify"})
MAX_PROPERTIES_BYTES = 32 * 1024
_MAX_ID = 256

# Fields a custom event carries as null when no request supplies them.
_NO_REQUEST = dict.fromkeys((
    "session_id", "session_index", "method", "scheme", "host", "path", "route", "url",
    "referrer", "user_agent", "language", "ip"))
_NO_RESPONSE = {"status": None, "response_bytes": None, "duration_ms": None, "outcome": None}


class CustomRecord:
    """A custom event waiting in the queue; becomes an event in the worker."""

    __slots__ = ("name", "properties", "request", "started", "user_id", "visitor_id")

    def __init__(self, name: str, properties: dict[str, Any], request: RequestRecord | None,
                 user_id: str | None, visitor_id: str | None) -> None:
        self.name = name
        self.properties = properties
        self.request = request
        self.started = time()
        self.user_id = user_id
        self.visitor_id = visitor_id

    @property
    def consented(self) -> bool:
        """Custom events share the consent decision of their request."""
        return self.request is None or self.request.consented

    def to_event(self, settings: CaptureSettings) -> dict[str, Any]:
        """The event: the request's shared fields (if any), then this event's own."""
        event: dict[str, Any] = {"schema": SCHEMA, "event_id": uuid7(self.started),
                                 "event": self.name, "timestamp": rfc3339(self.started)}
        request = self.request
        if request is not None:
            event.update(request.context(settings))
            event["route"] = request.route
            event["user_id"] = self.user_id or request.user_id
        else:
            event["visitor_id"] = self.visitor_id
            event.update(_NO_REQUEST)
            event["user_id"] = self.user_id
        event.update(_NO_RESPONSE)
        event["stitch"] = event.pop("stitch", {})  # keep the documented field order
        event["properties"] = self.properties
        return event


def _check_id(value: object, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValueError(f"{what} must be a string (or an int), not {type(value).__name__}")
    text = str(value)
    if not text or len(text) > _MAX_ID:
        raise ValueError(f"{what} must be 1 to {_MAX_ID} characters")
    return text


def _check_properties(properties: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
    if properties is None:
        return {}
    if not isinstance(properties, Mapping):
        raise ValueError(f"{what} must be a mapping of names to JSON values")
    try:
        encoded = orjson.dumps(properties, option=orjson.OPT_NON_STR_KEYS)
    except (orjson.JSONEncodeError, TypeError) as exc:
        raise ValueError(f"{what} must hold only JSON values: {exc}") from None
    if len(encoded) > MAX_PROPERTIES_BYTES:
        raise ValueError(f"{what} encode to {len(encoded)} bytes; the limit is "
                         f"{MAX_PROPERTIES_BYTES}")
    # A decoded copy: the caller may change its dict after the call returns.
    copy: dict[str, Any] = orjson.loads(encoded)
    return copy


def finish_request(record: RequestRecord, dispatcher: Dispatcher) -> None:
    """Queue a finished request, then the custom events it held back."""
    record.finished = True
    dispatcher.put(record)
    _release(record, dispatcher)


def _release(request: RequestRecord, dispatcher: Dispatcher) -> None:
    # pop() is atomic: whoever pops an event queues it, exactly once, even
    # when a thread started by the view tracks while the request finishes.
    pending = request.pending
    while pending:
        try:
            dispatcher.put(pending.pop(0))
        except IndexError:
            return


def _emit(record: CustomRecord) -> None:
    dispatcher = runtime.current().dispatcher
    request = record.request
    if request is None:
        dispatcher.put(record)
        return
    request.pending.append(record)
    if request.finished:  # tracked from a thread after the response was done
        _release(request, dispatcher)


def _reject(exc: ValueError) -> None:
    tracker = runtime.current()
    if tracker.config.strict:
        raise exc
    tracker.dispatcher.drop("invalid")
    warn_limited(f"invalid:{exc}", "sstrack ignored an invalid event: %s", exc)


def track(name: str, properties: Mapping[str, Any] | None = None, *,
          user_id: str | None = None, visitor_id: str | None = None) -> None:
    """Record a custom event, e.g. ``track("purchase", {"order": "A-17", "total": 42.5})``.

    Args:
        name: 1-128 characters: a letter, then letters, digits, spaces or ``_ . : -``;
            ``request`` and ``identify`` are reserved.
        properties: JSON-serialisable values, at most 32 KiB encoded.
        user_id: the user, if not (yet) known to the request.
        visitor_id: for events outside a request, the visitor they belong to.

    Raises:
        ValueError: for an invalid call, in strict mode only.
    """
    tracker = runtime.current()
    if not tracker.enabled:
        return
    try:
        if not isinstance(name, str) or not _NAME.fullmatch(name) or name in RESERVED:
            raise ValueError(f"event name {name!r} is invalid: use 1-128 letters, digits, "
                             "spaces or _.:- starting with a letter (not request/identify)")
        record = CustomRecord(name, _check_properties(properties, "properties"),
                              _request.get(), _check_id(user_id, "user_id"),
                              _check_id(visitor_id, "visitor_id"))
    except ValueError as exc:
        _reject(exc)
        return
    _emit(record)


def identify(user_id: str, traits: Mapping[str, Any] | None = None, *,
             visitor_id: str | None = None) -> None:
    """Link the visitor to a user, e.g. after a login: ``identify(user.pk, {"plan": "pro"})``.

    Inside a request, the request's own event then carries ``user_id`` too.
    An ``identify`` event records the link, with ``traits`` as its properties.

    Raises:
        ValueError: for an invalid call, in strict mode only.
    """
    tracker = runtime.current()
    if not tracker.enabled:
        return
    request = _request.get()
    try:
        checked = _check_id(user_id, "user_id")
        if checked is None:
            raise ValueError("user_id is required")
        record = CustomRecord("identify", _check_properties(traits, "traits"), request,
                              checked, _check_id(visitor_id, "visitor_id"))
    except ValueError as exc:
        _reject(exc)
        return
    if request is not None:
        request.user_id = checked
    _emit(record)
