"""Flask integration: ``SSTrack(app)``, or ``SSTrack()`` then ``init_app(app)`` in a factory.

::

    tracking = SSTrack()

    def create_app():
        app = Flask(__name__)
        app.config["SSTRACK_SINKS"] = "jsonl:/var/lib/sstrack"
        tracking.init_app(app)
        return app

Each option comes from, strongest first: a keyword argument of
:class:`SSTrack`, ``app.config["SSTRACK_<NAME>"]``, the ``SSTRACK_<NAME>``
environment variable, the default. Configuration is per process, like
:func:`sstrack.configure`.

``init_app`` wraps ``app.wsgi_app`` in :class:`sstrack.wsgi.TrackingMiddleware`
(so the event is queued after the response is sent and closed) and, at the
end of each request, adds ``route`` (``request.url_rule.rule``) and, with
Flask-Login, ``user_id`` from the user it already loaded for the request:
``current_user`` is never evaluated, so no user loader runs (and no query)
that the view did not cause.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flask import Flask, g, request

from ._log import warn_limited
from ._options import configure_labelled
from .tracking import current_request
from .wsgi import StartResponse, TrackingMiddleware, WSGIApp

__all__ = ["SSTrack"]

# Where the record waits for the teardown: with stream_with_context the
# teardown runs while the server iterates, outside the middleware's context.
_ENVIRON_KEY = "sstrack.record"


def _config_options(config: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """``SSTRACK_<NAME>`` keys of ``app.config`` as options, and how to name them in errors."""
    options, labels = {}, {}
    for key, value in config.items():
        # Sinks read their own settings (SSTRACK_KAFKA_*) from the environment.
        if key.startswith("SSTRACK_") and not key.startswith("SSTRACK_KAFKA_"):
            name = key[len("SSTRACK_"):].lower()
            options[name] = value
            labels[name] = f"app.config[{key!r}]"
    return options, labels


def _exposing_record(wsgi_app: WSGIApp) -> WSGIApp:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        environ[_ENVIRON_KEY] = current_request()
        return wsgi_app(environ, start_response)

    return app


def _login_user_id() -> str | None:
    # Flask-Login keeps the user it loaded for this request in g._login_user;
    # current_user would call the user loader if the view had not.
    user = g.get("_login_user")
    if user is None or getattr(user, "is_authenticated", False) is not True:
        return None
    user_id = user.get_id()
    return None if user_id is None else str(user_id)


def _route_and_user(error: BaseException | None) -> None:
    record = request.environ.get(_ENVIRON_KEY)
    if record is None:
        return
    try:
        if error is not None:  # Flask answered an unhandled exception with a 500
            record.failed = True
        rule = request.url_rule
        if record.route is None and rule is not None:
            record.route = rule.rule
        if record.user_id is None:  # identify() in the view wins
            record.user_id = _login_user_id()
    except Exception:
        warn_limited("flask_route", "sstrack could not read the route or user", exc_info=True)


class SSTrack:
    """The Flask extension; registered as ``app.extensions["sstrack"]``.

    Args:
        app: the application, or ``None`` to call :meth:`init_app` later.
        **options: sstrack options (see :func:`sstrack.configure`); they win
            over ``app.config["SSTRACK_*"]`` and the environment.

    Raises:
        ConfigError: from :meth:`init_app`, listing every invalid setting.
    """

    def __init__(self, app: Flask | None = None, **options: Any) -> None:
        self.options = options
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Configure sstrack and track every request of ``app``.

        Raises:
            ConfigError: at start-up, for any invalid option, naming where it was set.
            RuntimeError: if sstrack is already set up for ``app``.
        """
        if "sstrack" in app.extensions:
            raise RuntimeError("sstrack is already set up for this app")
        options, labels = _config_options(app.config)
        options.update(self.options)
        configure_labelled(options, {k: v for k, v in labels.items() if k not in self.options})
        app.wsgi_app = TrackingMiddleware(  # type: ignore[method-assign]  # Flask's documented way
            _exposing_record(app.wsgi_app))
        app.teardown_request(_route_and_user)
        app.extensions["sstrack"] = self
