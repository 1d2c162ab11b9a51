"""sstrack: server-side web analytics as a drop-in WSGI/ASGI middleware.

The public API is small and stable:

* :class:`sstrack.asgi.TrackingMiddleware` and :class:`sstrack.wsgi.TrackingMiddleware`
* :func:`configure`, :func:`flush`, :func:`shutdown`, :func:`stats`
* :class:`ConfigError`
"""

from __future__ import annotations

from .config import ConfigError
from .event import SCHEMA
from .runtime import configure, flush, shutdown, stats

__all__ = ["SCHEMA", "ConfigError", "__version__", "configure", "flush", "shutdown", "stats"]

__version__ = "0.1.0"
