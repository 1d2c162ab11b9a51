"""Hello-world Flask apps: bare, with sstrack, and with each peer.

Served by ``http_bench.py`` as gunicorn factories, e.g.::

    gunicorn --pythonpath benchmarks/apps 'flask_hello:with_sstrack()'
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask
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

__all__ = ["bare", "with_apitally", "with_moesif", "with_sentry", "with_sstrack"]


def _app() -> Flask:
    app = Flask(__name__)

    @app.get("/")
    def hello() -> str:
        return HELLO

    @app.get(CAPTURED_PATH)
    def captured_count() -> str:
        return str(captured())

    return app


def bare() -> Flask:
    """No tracking: the baseline every ratio is taken against."""
    return _app()


def with_sstrack() -> Flask:
    """sstrack as documented; options come from SSTRACK_* (http_bench sets the sink)."""
    import sstrack
    from sstrack.wsgi import TrackingMiddleware

    count_with(lambda: _written_after_flush(sstrack))
    app = _app()
    app.wsgi_app = TrackingMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    return app


def with_apitally() -> Flask:
    """apitally 1.x (OpenTelemetry spans, spooled, exported every 15 s) to a closed port."""
    import apitally.flask

    os.environ["APITALLY_OTLP_ENDPOINT"] = CLOSED_URL
    app = _app()
    apitally.flask.init(app, write_token=APITALLY_TOKEN, env="benchmark",
                        sample_on_response=_count_and_keep)
    return app


def with_moesif() -> Flask:
    """moesifwsgi with its defaults (two sender threads), sending to a closed port."""
    from moesifwsgi import MoesifMiddleware

    app = _app()
    settings = {"APPLICATION_ID": MOESIF_APPLICATION_ID, "BASE_URI": CLOSED_URL,
                "MASK_EVENT_MODEL": _count_and_return}
    app.wsgi_app = MoesifMiddleware(app.wsgi_app, settings)  # type: ignore[method-assign]
    return app


def with_sentry() -> Flask:
    """sentry-sdk's Flask integration tracing every request, to a closed port."""
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
