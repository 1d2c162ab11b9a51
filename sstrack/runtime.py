"""The process-wide tracker: one configuration, one queue, one worker.

Like ``sentry_sdk.init``, configuration is per process: the middleware, the
framework integrations and :func:`sstrack.flush` all use the tracker that
:func:`configure` installed last (or one built from ``SSTRACK_*`` variables
on first use).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from .capture import CaptureSettings
from .config import Config
from .dispatcher import Dispatcher
from .identity import CookiePolicy
from .pipeline import Pipeline
from .sinks import Sink, build_sink
from .stitch import StitchOptions, adoptable_visitor_id, stitch_from_header

__all__ = ["Tracker", "configure", "current", "flush", "shutdown", "stats"]


class Tracker:
    """A validated configuration with everything the request path precomputes."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.enabled = config.enabled
        self.policy: CookiePolicy = config.cookie_policy
        self.visitor_eq = config.cookie_name + "="
        self.session_eq = config.session_cookie_name + "="
        self.cookie_attributes = (self.policy.attributes(secure=False),
                                  self.policy.attributes(secure=True))
        self.trust = config.trusted_proxies
        stitch = StitchOptions(config.snowplow_suffix, config.snowplow_prefix, config.stitch)
        self.settings = CaptureSettings(self.trust, stitch if config.stitch else None)
        self.adopt = _adopter(config.visitor_id_from, stitch)
        self.pipeline = Pipeline(config)
        self.dispatcher = Dispatcher(
            self._make_sinks, self._process,
            queue_size=config.queue_size, drop_newest=config.queue_full == "drop_newest",
            batch_size=config.batch_size, flush_interval=config.flush_interval,
            delivery=Dispatcher.Options.from_config(config))

    def _make_sinks(self) -> list[Sink]:
        return [build_sink(url, self.config.environ) for url in self.config.sinks]

    def _process(self, record: Any) -> dict[str, Any] | None:
        event: dict[str, Any] = record.to_event(self.settings)
        return self.pipeline.apply(event, record.consented, record.started)


def _adopter(source: str | None,
             options: StitchOptions) -> Callable[[str], str | None] | None:
    """For ``visitor_id_from``: read one vendor's cookie for a visitor we have not seen.

    This runs on the request path, but only for a first visit, and reads
    only the one vendor's cookies.
    """
    if source is None:
        return None
    single = StitchOptions(options.snowplow_suffix, options.snowplow_prefix, frozenset({source}))

    def adopt(cookie_header: str) -> str | None:
        return adoptable_visitor_id(stitch_from_header(cookie_header, single), source)

    return adopt


_current: Tracker | None = None
_lock = threading.Lock()


def configure(**options: Any) -> Config:
    """Configure sstrack for this process and return the validated settings.

    Keyword options override ``SSTRACK_<NAME>`` environment variables, which
    override the defaults (see the README for the full table). Calling it
    again with the same settings keeps the running worker; different
    settings flush the old sinks and switch to new ones.

    Raises:
        ConfigError: listing every invalid setting.
    """
    global _current
    config = Config.load(options)
    with _lock:
        previous = _current
        if previous is not None and previous.config == config:
            return previous.config
        _current = Tracker(config)
    if previous is not None:
        previous.dispatcher.shutdown(config.shutdown_timeout)
    return config


def current() -> Tracker:
    """The installed tracker, configured from the environment if nothing else did."""
    global _current
    tracker = _current
    if tracker is None:
        with _lock:
            tracker = _current
            if tracker is None:
                tracker = _current = Tracker(Config.load())
    return tracker


def flush(timeout: float = 5.0) -> bool:
    """Write every event captured so far; ``True`` if done within ``timeout`` seconds."""
    tracker = _current
    return tracker.dispatcher.flush(timeout) if tracker is not None else True


def shutdown(timeout: float | None = None) -> bool:
    """Flush and stop the worker (idempotent; runs at interpreter exit too).

    Events captured afterwards are counted as dropped (``shutdown``) until
    :func:`configure` is called again.
    """
    tracker = _current
    if tracker is None:
        return True
    return tracker.dispatcher.shutdown(
        tracker.config.shutdown_timeout if timeout is None else timeout)


def stats() -> dict[str, Any]:
    """Counters for this process: ``enqueued``, ``written``, ``dropped`` (by reason),
    ``queue_depth``, ``errors`` (by sink) and per-sink detail under ``sinks``."""
    tracker = _current
    if tracker is None:
        return {"enqueued": 0, "written": 0, "dropped": {}, "queue_depth": 0, "errors": {},
                "sinks": {}, "worker_alive": False}
    counters = tracker.dispatcher.stats()
    # The dispatcher counts every event the pipeline dropped as "filtered";
    # the pipeline knows why (sampled, bot, before_send, ...).
    dropped = counters["dropped"]
    if dropped.pop("filtered", 0):
        dropped.update(tracker.pipeline.dropped)
    return counters
