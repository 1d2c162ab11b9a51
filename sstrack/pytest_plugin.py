"""pytest plugin: the ``sstrack_events`` fixture, for asserting on tracked events in tests.

::

    def test_checkout(client, sstrack_events):
        client.post("/checkout", data={"order": "A-17"})
        purchase = sstrack_events.one(event="purchase")
        assert purchase["properties"]["order"] == "A-17"
        assert sstrack_events.one(event="request", path="/checkout")["status"] == 200

For the test's duration sstrack writes to an in-memory sink in strict mode
(an invalid ``track()`` call raises). The app's other options stay: those
configured before the test, and those configured while it runs (Django's
middleware, ``SSTrack(app)``, ``sstrack.configure``). The previous
configuration is back afterwards.

Reading the events first flushes them. Werkzeug's (and so Flask's) test
client closes a response, which is when a WSGI app's request is recorded,
only if you close it; so reading also reads and closes the test responses
still open, as a server would (their data stays readable). Django's test
client closes a streaming response once you consume ``streaming_content``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import sstrack

from . import runtime
from .config import Config
from .sinks import memory

__all__ = ["CapturedEvents", "capture_events", "sstrack_events"]

Event = dict[str, Any]

_FLUSH_TIMEOUT = 5.0
_stores = itertools.count(1)


class _OpenResponse:
    """A Werkzeug test response, closed once: by the test or by us."""

    __slots__ = ("closed", "response")

    def __init__(self, response: Any) -> None:
        self.response = response
        self.closed = False
        close = response.close

        @functools.wraps(close)
        def close_once() -> None:
            if not self.closed:
                self.closed = True
                close()

        response.close = close_once

    def finish(self) -> None:
        if not self.closed:
            self.response.make_sequence()  # read the body as a server would; it stays readable
            self.response.close()


class CapturedEvents:
    """The events tracked during one test (the ``sstrack_events`` fixture's value)."""

    def __init__(self, store: str) -> None:
        self._store = store
        self._open: list[_OpenResponse] = []

    def _settle(self) -> None:
        while self._open:
            self._open.pop(0).finish()
        if not runtime.flush(_FLUSH_TIMEOUT):
            raise AssertionError(f"sstrack did not flush its events within {_FLUSH_TIMEOUT}s")

    def all(self) -> list[Event]:
        """Every event so far, oldest first."""
        self._settle()
        return memory.events(self._store)

    def find(self, event: str | None = None, **fields: Any) -> list[Event]:
        """The events named ``event`` (any, if ``None``) whose ``fields`` equal the given values."""
        return [found for found in self.all()
                if (event is None or found.get("event") == event)
                and all(found.get(name) == value for name, value in fields.items())]

    def one(self, event: str | None = None, **fields: Any) -> Event:
        """The only event matching, as :meth:`find` matches.

        Raises:
            AssertionError: if none or several match, listing what was tracked.
        """
        found = self.find(event, **fields)
        if len(found) != 1:
            wanted = ", ".join([*([f"event={event!r}"] if event else []),
                                *(f"{k}={v!r}" for k, v in fields.items())]) or "anything"
            seen = [(e.get("event"), e.get("path"), e.get("status")) for e in self.all()]
            raise AssertionError(f"expected one event matching {wanted}, found {len(found)}; "
                                 f"tracked (event, path, status): {seen}")
        return found[0]

    def clear(self) -> None:
        """Forget the events so far (finishing pending requests first)."""
        self._settle()
        memory.clear(self._store)

    def _collect(self, response: Any) -> None:
        self._open.append(_OpenResponse(response))


def _pinned(configure: Callable[..., Config], sinks: str) -> Callable[..., Config]:
    @functools.wraps(configure)
    def pinned_configure(**options: Any) -> Config:
        options.update(sinks=sinks, strict=True)
        return configure(**options)

    return pinned_configure


def _watch_werkzeug(patch: pytest.MonkeyPatch, events: CapturedEvents) -> None:
    try:
        from werkzeug.test import Client
    except ImportError:
        return
    open_request = Client.open

    @functools.wraps(open_request)
    def open_and_collect(self: Client, *args: Any, **kwargs: Any) -> Any:
        response = open_request(self, *args, **kwargs)
        events._collect(response)
        return response

    patch.setattr(Client, "open", open_and_collect)


@contextlib.contextmanager
def capture_events() -> Iterator[CapturedEvents]:
    """What the fixture does, as a context manager (e.g. for ``unittest`` test cases)."""
    store = f"pytest-{next(_stores)}"
    sinks = f"memory:{store}"
    events = CapturedEvents(store)
    with runtime._lock:
        previous = runtime._current
        # The app's settings so far (or the environment's), with our sink.
        config = (Config.load({"sinks": sinks, "strict": True}) if previous is None
                  else dataclasses.replace(previous.config, sinks=(sinks,), strict=True))
        tracker = runtime.Tracker(config)
        # Swapped in, not configure()d: configure() would shut the previous
        # tracker down, and it has to work again afterwards.
        runtime._current = tracker
    try:
        with pytest.MonkeyPatch.context() as patch:
            pinned = _pinned(runtime.configure, sinks)
            patch.setattr(runtime, "configure", pinned)
            patch.setattr(sstrack, "configure", pinned)
            _watch_werkzeug(patch, events)
            yield events
            events._settle()
    finally:
        with runtime._lock:
            ours, runtime._current = runtime._current, previous
        if ours is not None and ours is not previous:
            ours.dispatcher.shutdown(_FLUSH_TIMEOUT)
        tracker.dispatcher.shutdown(_FLUSH_TIMEOUT)
        memory.clear(store)


@pytest.fixture
def sstrack_events() -> Iterator[CapturedEvents]:
    """Capture the events tracked while the test runs (see :class:`CapturedEvents`)."""
    with capture_events() as events:
        yield events
