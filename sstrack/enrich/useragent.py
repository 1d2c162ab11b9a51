"""User-agent parsing: browser, OS and device, with ``user-agents``' device classification.

``user_agents.parse`` runs ua-parser's pure-Python regexes (hundreds of µs for an
unseen user agent). Here ua-parser 1.x resolves the same regexes.yaml with the Rust
``ua-parser-rs`` engine, and the ``is_bot``/``is_tablet``/``is_mobile``/``is_pc``
rules of ``user_agents`` 2.2 are re-applied to its result, so the classification
stays the same at a fraction of the cost. Results are kept in a bounded LRU cache.
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ua_parser import Resolver
    from ua_parser.regex import Resolver as RegexResolver

__all__ = [
    "DEVICE_TYPES",
    "MAX_USER_AGENT_LENGTH",
    "USER_AGENT_FIELDS",
    "UserAgentParser",
    "classify_device",
    "parse_user_agent",
]

logger = logging.getLogger("sstrack.enrich")

#: Values ``device_type`` can take.
DEVICE_TYPES = ("desktop", "mobile", "tablet", "bot", "other")
#: Keys of the mapping returned by :func:`parse_user_agent`, in order.
USER_AGENT_FIELDS = (
    "browser_family",
    "browser_version",
    "os_family",
    "os_version",
    "device_family",
    "device_brand",
    "device_model",
    "device_type",
)
#: User agents are cut to this many characters before parsing and caching: real ones
#: stay well under it, and it bounds the work a hostile header can cause.
MAX_USER_AGENT_LENGTH = 512

# Family tables copied from user_agents 2.2 (user_agents/parsers.py), which this
# module must agree with; only the ones the device_type decision reads are kept.
_MOBILE_DEVICE_FAMILIES = frozenset(
    {"iPhone", "iPod", "Generic Smartphone", "Generic Feature Phone", "PlayStation Vita",
     "iOS-Device"}
)  # fmt: skip
_PC_OS_FAMILIES = frozenset({"Windows 95", "Windows 98", "Solaris"})
_MOBILE_OS_FAMILIES = frozenset(
    {"Windows Phone", "Windows Phone OS", "Symbian OS", "Bada", "Windows CE",
     "Windows Mobile", "Maemo"}
)  # fmt: skip
_MOBILE_BROWSER_FAMILIES = frozenset(
    {"IE Mobile", "Opera Mobile", "Opera Mini", "Chrome Mobile", "Chrome Mobile WebView",
     "Chrome Mobile iOS"}
)  # fmt: skip
_TABLET_DEVICE_FAMILIES = frozenset(
    {"iPad", "BlackBerry Playbook", "Blackberry Playbook", "Kindle", "Kindle Fire",
     "Kindle Fire HD", "Galaxy Tab", "Xoom", "Dell Streak"}
)  # fmt: skip

# A missing header is kept distinct from an unrecognised one ("Other").
_MISSING: dict[str, str | None] = dict.fromkeys(USER_AGENT_FIELDS)
_MISSING["device_type"] = "other"


class _Browser(Protocol):  # ua-parser's dataclasses and ua-parser-rs' results alike
    @property
    def family(self) -> str: ...
    @property
    def major(self) -> str | None: ...
    @property
    def minor(self) -> str | None: ...
    @property
    def patch(self) -> str | None: ...


class _Device(Protocol):
    @property
    def family(self) -> str: ...
    @property
    def brand(self) -> str | None: ...
    @property
    def model(self) -> str | None: ...


_Resolved = tuple["_Browser | None", "_Browser | None", "_Device | None"]


class _RustEngine:
    """The three ua-parser-rs extractors of ua-parser's regex resolver, called directly.

    Skipping the resolver's result dataclasses saves ~5 µs of a ~20 µs parse.
    """

    def __init__(self, resolver: RegexResolver) -> None:
        self._ua = resolver.ua.extract
        self._os = resolver.os.extract
        self._device = resolver.de.extract

    def resolve(self, ua: str) -> _Resolved:
        return self._ua(ua), self._os(ua), self._device(ua)


class _GenericEngine:
    """Any ua-parser resolver: the pure-Python fallback."""

    def __init__(self, resolver: Resolver) -> None:
        from ua_parser import Domain

        self._resolver = resolver
        self._domains = Domain.ALL

    def resolve(self, ua: str) -> _Resolved:
        result = self._resolver(ua, self._domains)
        return result.user_agent, result.os, result.device


_engine_lock = threading.Lock()
_engine: _RustEngine | _GenericEngine | None = None


def _get_engine() -> _RustEngine | _GenericEngine:
    """Return the process-wide engine, building it on first use (~150 ms)."""
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                _engine = _build_engine()
    return _engine


def _build_engine() -> _RustEngine | _GenericEngine:
    import ua_parser

    try:
        from ua_parser.regex import Resolver as RegexResolver
    except ImportError:  # no ua-parser-rs wheel for this platform
        logger.warning(
            "sstrack: ua-parser-rs is not installed; user-agent parsing falls back to "
            "pure-Python regexes, roughly 30x slower (pip install 'ua-parser[regex]')"
        )
        return _GenericEngine(ua_parser.BasicResolver(ua_parser.load_builtins()))
    # Lazy matchers skip compiling ~1,300 Python regexes the Rust engine never uses.
    resolver = RegexResolver(ua_parser.load_lazy_builtins())
    if all(hasattr(resolver, name) for name in ("ua", "os", "de")):
        return _RustEngine(resolver)
    return _GenericEngine(resolver)  # a later ua-parser laid its resolver out anew


def _to_utf8_safe(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8")


def _version_string(major: str | None, minor: str | None, patch: str | None) -> str:
    # user_agents' version_string: the non-None parts joined with dots (ints unpadded).
    parts = (major, minor, patch)
    return ".".join(str(int(p)) if p.isdecimal() else p for p in parts if p is not None)


def _is_tablet(ua: str, browser: str, os: str, os_version: str, device: str) -> bool:
    if device in _TABLET_DEVICE_FAMILIES:
        return True
    if os == "Android":
        # Newer Android tablets drop "Mobile" from the user agent.
        return "Mobile Safari" not in ua and browser != "Firefox Mobile"
    if os == "Windows" and os_version.startswith("RT"):
        return True
    return os == "Firefox OS" and "Mobile" not in browser


def _is_mobile(ua: str, browser: str, os: str, device: str, tablet: bool) -> bool:
    if device in _MOBILE_DEVICE_FAMILIES or browser in _MOBILE_BROWSER_FAMILIES:
        return True
    if os in ("Android", "Firefox OS") and not tablet:
        return True
    if os == "BlackBerry OS" and device != "Blackberry Playbook":
        return True
    if os in _MOBILE_OS_FAMILIES or "J2ME" in ua or "MIDP" in ua:
        return True
    # user_agents' catch-alls for Google's mobile spiders and Nokia browsers.
    if "iPhone;" in ua or "Googlebot-Mobile" in ua:
        return True
    if device == "Spider" and "Mobile" in browser:
        return True
    return "NokiaBrowser" in ua and "Mobile" in ua


def _is_pc(ua: str, os: str, os_version: str) -> bool:
    if "Windows NT" in ua or os in _PC_OS_FAMILIES or (os == "Windows" and os_version == "ME"):
        return True
    if os == "Mac OS X" and "Silk" not in ua:
        return True
    if "Maemo" in ua:  # Maemo says "Linux" and "X11" but is a phone OS
        return False
    return "Chrome OS" in os or ("Linux" in ua and "X11" in ua)


def classify_device(ua: str, browser: str, os: str, os_version: str, device: str) -> str:
    """Return the ``device_type`` that ``user_agents`` 2.2 would give.

    Args:
        ua: The user-agent string.
        browser: ua-parser's browser family.
        os: ua-parser's OS family.
        os_version: The OS version as ``user_agents`` joins it (``"10.15.7"``, ``"RT"``).
        device: ua-parser's device family.

    Returns:
        One of :data:`DEVICE_TYPES`, checked in ``user_agents``' order: bot, tablet,
        mobile, desktop, other.
    """
    if device == "Spider":
        return "bot"
    tablet = _is_tablet(ua, browser, os, os_version, device)
    if tablet:
        return "tablet"
    if _is_mobile(ua, browser, os, device, tablet):
        return "mobile"
    if _is_pc(ua, os, os_version):
        return "desktop"
    return "other"


def _parse_uncached(ua: str) -> dict[str, str | None]:
    engine = _get_engine()
    try:
        browser, os, device = engine.resolve(ua)
    except UnicodeEncodeError:
        # Lone surrogates (from a surrogateescape decode) cannot cross into Rust.
        ua = _to_utf8_safe(ua)
        browser, os, device = engine.resolve(ua)
    # A failed lookup is None; ua-parser's defaults are family "Other", no versions.
    browser_family = browser.family if browser else "Other"
    os_family, os_version = "Other", ""
    if os is not None:
        os_family = os.family
        # user_agents reads the OS version only for Windows ("RT", "ME"), and joining
        # it costs more than the rest of the classification: only Windows pays.
        if os_family == "Windows":
            os_version = _version_string(os.major, os.minor, os.patch)
    device_family = device.family if device else "Other"
    return {
        # Major versions only (e.g. "70", "10"): minor and patch numbers are frozen
        # or noise in modern user agents and would only add cardinality.
        "browser_family": browser_family,
        "browser_version": (browser.major or None) if browser else None,
        "os_family": os_family,
        "os_version": (os.major or None) if os else None,
        "device_family": device_family,
        "device_brand": (device.brand or None) if device else None,
        "device_model": (device.model or None) if device else None,
        "device_type": classify_device(ua, browser_family, os_family, os_version, device_family),
    }


class UserAgentParser:
    """User-agent parser with a bounded LRU cache of results.

    Thread-safe. The ua-parser engine is built on the first parse, not at
    construction, and is shared by every instance in the process.

    Args:
        cache_size: Most distinct user agents kept in the cache.
        max_length: Characters of the user agent that are parsed; the rest is ignored.
    """

    def __init__(self, *, cache_size: int = 4096, max_length: int = MAX_USER_AGENT_LENGTH) -> None:
        if cache_size < 0 or max_length < 1:
            raise ValueError("cache_size must be >= 0 and max_length >= 1")
        self._max_length = max_length
        # functools' LRU is implemented in C: a hit costs well under a microsecond.
        self._cached = functools.lru_cache(maxsize=cache_size)(_parse_uncached)

    def parse(self, ua: str | None) -> dict[str, str | None]:
        """Parse a user-agent header value.

        Args:
            ua: The ``User-Agent`` header, or None when the request had none.

        Returns:
            A new dict with the keys of :data:`USER_AGENT_FIELDS`. Families are
            ua-parser's (``"Other"`` when unrecognised); versions are major only;
            every field but ``device_type`` is None when the header is missing or blank.
        """
        if not ua or ua.isspace():
            return dict(_MISSING)
        # A copy, so callers may add to or pop from it without corrupting the cache.
        return dict(self._cached(ua[: self._max_length]))

    __call__ = parse

    def cache_clear(self) -> None:
        """Empty the result cache."""
        self._cached.cache_clear()

    def cache_info(self) -> functools._CacheInfo:
        """Return hit/miss/size statistics of the result cache."""
        return self._cached.cache_info()


_default_parser = UserAgentParser()


def parse_user_agent(ua: str | None) -> dict[str, str | None]:
    """Parse a user agent with the process-wide cached :class:`UserAgentParser`.

    Args:
        ua: The ``User-Agent`` header, or None.

    Returns:
        See :meth:`UserAgentParser.parse`.
    """
    return _default_parser.parse(ua)
