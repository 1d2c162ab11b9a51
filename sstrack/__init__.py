"""sstrack: server-side web analytics as a drop-in WSGI/ASGI middleware.

The public API is small and stable:

* :class:`sstrack.asgi.TrackingMiddleware` and :class:`sstrack.wsgi.TrackingMiddleware`
* :func:`track` and :func:`identify` for custom events
* :func:`configure`, :func:`flush`, :func:`shutdown`, :func:`stats`
* :class:`ConfigError`
"""

from __future__ import annotations

from .config import ConfigError
from .event import SCHEMA
from .runtime import configure, flush, shutdown, stats
from .tracking import identify, track

__all__ = [
    "SCHEMA",
    "ConfigError",
    "__version__",
    "configure",
    "flush",
    "identify",
    "shutdown",
    "stats",
    "track",
]

__version__ = "0.1.0"
