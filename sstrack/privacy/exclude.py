"""Requests that are never tracked: static files, health checks, preflights.

This runs on the request path, for every request, so the patterns are
compiled once into a set of exact paths, a tuple of prefixes (one C-level
``str.startswith``) and at most one regular expression for other globs;
user ``re:`` patterns are checked last.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable

__all__ = ["DEFAULT_EXCLUDED_METHODS", "DEFAULT_EXCLUDED_PATHS", "ExclusionHook", "Exclusions"]

DEFAULT_EXCLUDED_PATHS: tuple[str, ...] = (
    # Static files and the icons browsers fetch on their own.
    "/static/*",
    "/assets/*",
    "/favicon.ico",
    "/apple-touch-icon*",
    # Health checks, probes and metrics scrapes: machines, every few seconds.
    "/health",
    "/health/*",
    "/healthz",
    "/healthz/*",
    "/healthcheck",
    "/livez",
    "/readyz",
    "/ping",
    "/metrics",
)
"""Default path patterns. ``/robots.txt`` and ``/sitemap.xml`` are tracked on
purpose: crawler visits there matter for SEO, and bots are tagged anyway."""

DEFAULT_EXCLUDED_METHODS: tuple[str, ...] = ("OPTIONS",)
"""CORS preflights are not page views. ``HEAD`` is tracked: it is mostly
uptime monitors and link checkers, which analysts may want to see (tagged
as bots); add it to drop them."""

ExclusionHook = Callable[[str, str], bool]
"""``hook(method, path)`` returning True to exclude the request."""


class Exclusions:
    """Decides, fast, which requests are not tracked.

    Path patterns are matched against the request path (no query string),
    case-sensitively:

    * ``/favicon.ico``: this exact path;
    * ``/static/*``: a prefix (a single ``*`` at the end matches anything,
      including further ``/``);
    * other globs, with ``*``, ``?`` or ``[…]`` anywhere (``*.map``): shell
      patterns via :mod:`fnmatch`, matching the whole path (``*`` crosses ``/``);
    * ``re:<regex>``: a regular expression, found anywhere in the path
      (anchor it with ``^`` if needed).

    Args:
        paths: Replaces :data:`DEFAULT_EXCLUDED_PATHS`.
        extra_paths: Added to ``paths``.
        methods: Excluded HTTP methods, upper-cased here and matched exactly
            (methods are case-sensitive, and clients send them upper-case).
        hook: ``hook(method, path)``, consulted last; True excludes. If it
            raises, the request is tracked.

    Raises:
        ValueError: for an empty pattern, an invalid ``re:`` expression, or a
            single string where a sequence is expected.
    """

    __slots__ = ("_exact", "_glob", "_hook", "_methods", "_prefixes", "_regexes")

    def __init__(self, *, paths: Iterable[str] = DEFAULT_EXCLUDED_PATHS,
                 extra_paths: Iterable[str] = (),
                 methods: Iterable[str] = DEFAULT_EXCLUDED_METHODS,
                 hook: ExclusionHook | None = None) -> None:
        if isinstance(paths, str) or isinstance(extra_paths, str) or isinstance(methods, str):
            raise ValueError("paths, extra_paths and methods must be sequences, not one string")
        exact: set[str] = set()
        prefixes: list[str] = []
        globs: list[str] = []
        regexes: list[re.Pattern[str]] = []
        for pattern in (*paths, *extra_paths):
            if not isinstance(pattern, str) or not pattern or pattern == "re:":
                raise ValueError(f"invalid exclusion pattern {pattern!r}")
            if pattern.startswith("re:"):
                try:
                    regexes.append(re.compile(pattern[3:]))
                except re.error as exc:
                    raise ValueError(f"invalid exclusion regex {pattern!r}: {exc}") from None
            elif not any(c in pattern for c in "*?["):
                exact.add(pattern)
            elif pattern.endswith("*") and not any(c in pattern[:-1] for c in "*?["):
                prefixes.append(pattern[:-1])
            else:
                globs.append(fnmatch.translate(pattern))
        self._exact = frozenset(exact)
        self._prefixes = tuple(prefixes)
        self._glob = re.compile("|".join(globs)) if globs else None
        self._regexes = tuple(regexes)
        self._methods = frozenset(m.strip().upper() for m in methods)
        self._hook = hook

    def excluded(self, method: str, path: str) -> bool:
        """Whether a request with this method and path (no query string) is not tracked."""
        if method in self._methods or path in self._exact:
            return True
        if self._prefixes and path.startswith(self._prefixes):
            return True
        if self._glob is not None and self._glob.match(path):
            return True
        for regex in self._regexes:
            if regex.search(path):
                return True
        if self._hook is not None:
            try:
                return bool(self._hook(method, path))
            except Exception:
                return False
        return False
