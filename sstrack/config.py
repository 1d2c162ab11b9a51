"""Options: keyword arguments first, then ``SSTRACK_<NAME>`` variables, then defaults.

Every problem is collected and raised together as one :class:`ConfigError`
at start-up, naming the variable and the fix, so a deploy fails on its
first request-less second rather than silently tracking nothing.
"""

from __future__ import annotations

import difflib
import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._log import logger
from .identity import CookiePolicy
from .proxy import ProxyTrust

__all__ = ["OPTIONS", "Config", "ConfigError", "Option"]


class ConfigError(ValueError):
    """sstrack's configuration is invalid; ``problems`` lists every issue found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid sstrack configuration:\n  - " + "\n  - ".join(problems))


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true or false")


def _positive_int(value: Any) -> int:
    number = int(value)
    if isinstance(value, bool) or number <= 0:
        raise ValueError("expected a positive whole number")
    return number


def _positive_float(value: Any) -> float:
    number = float(value)
    if not number > 0 or number == float("inf"):
        raise ValueError("expected a positive number of seconds")
    return number


def _text(value: Any) -> str:
    return str(value).strip()


def _optional_text(value: Any) -> str | None:
    return str(value).strip() or None if value is not None else None


def _sinks(value: Any) -> tuple[str, ...]:
    urls = tuple(value.split()) if isinstance(value, str) else tuple(str(v) for v in value)
    if not urls:
        raise ValueError("expected at least one sink URL")
    return urls


def _choice(*allowed: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = str(value).strip().lower()
        if text not in allowed:
            raise ValueError("expected one of " + ", ".join(allowed))
        return text
    return parse


_VENDORS = ("snowplow", "ga", "segment", "posthog", "amplitude", "mixpanel")


def _vendors(value: Any) -> frozenset[str]:
    names = value.replace(",", " ").split() if isinstance(value, str) else list(value)
    names = [str(name).strip().lower() for name in names]
    if names in (["all"], []):
        return frozenset(_VENDORS) if names else frozenset()
    if names == ["none"]:
        return frozenset()
    unknown = sorted(set(names) - set(_VENDORS))
    if unknown:
        raise ValueError(f"unknown vendor {', '.join(unknown)}; use all, none or a list of "
                         + ", ".join(_VENDORS))
    return frozenset(names)


def _optional_vendor(value: Any) -> str | None:
    text = str(value).strip().lower() if value is not None else ""
    if text and text not in _VENDORS:
        raise ValueError("expected one of " + ", ".join(_VENDORS))
    return text or None


def _words(value: Any) -> tuple[str, ...]:
    """A list from ``"a, b c"`` or from any iterable of strings."""
    if isinstance(value, str):
        return tuple(value.replace(",", " ").split())
    return tuple(str(item) for item in value)


def _rate(value: Any) -> float:
    rate = float(value)
    if not 0.0 <= rate <= 1.0:
        raise ValueError("expected a fraction between 0 and 1")
    return rate


def _callable(value: Any) -> Callable[..., Any] | None:
    """A callable, or an import path ``package.module:function`` from the environment."""
    if value is None or callable(value):
        return value  # type: ignore[no-any-return]
    module_name, colon, attribute = str(value).strip().partition(":")
    if not colon or not module_name or not attribute:
        raise ValueError("expected an import path like myapp.analytics:before_send")
    try:
        target = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot import it: {exc}") from None
    if not callable(target):
        raise ValueError("it names something that is not callable")
    hook: Callable[..., Any] = target
    return hook


def _fsync(value: Any) -> str:
    text = str(value).strip().lower()
    if text in ("never", "always") or (text.isdigit() and int(text) > 0):
        return text
    raise ValueError("expected never, always, or an interval in milliseconds such as 1000")


def _trust(value: Any) -> ProxyTrust:
    if isinstance(value, ProxyTrust):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    elif not isinstance(value, str):
        value = ",".join(str(v) for v in value)
    return ProxyTrust.parse(value)


@dataclass(frozen=True)
class Option:
    """One setting: its parser, default, and the line the README table shows."""

    name: str
    parse: Callable[[Any], Any]
    default: Any
    doc: str

    @property
    def env(self) -> str:
        """The environment variable that sets this option."""
        return "SSTRACK_" + self.name.upper()


OPTIONS: tuple[Option, ...] = (
    Option("enabled", _bool, True, "Track requests at all; `false` makes the middleware a "
           "pass-through."),
    Option("sinks", _sinks, ("jsonl:./sstrack-events",), "Whitespace-separated sink URLs; "
           "every sink receives every event."),
    Option("cookie_name", _text, "sst_id", "Name of the visitor cookie."),
    Option("session_cookie_name", _text, "sst_ses", "Name of the session cookie."),
    Option("cookie_max_age", _positive_int, 63_072_000, "Lifetime of both cookies in seconds "
           "(two years)."),
    Option("cookie_domain", _optional_text, None, "`Domain` attribute, to share the cookies "
           "across subdomains (e.g. `.example.com`); host-only when unset."),
    Option("cookie_secure", _bool, False, "Always mark cookies `Secure`; they are marked "
           "`Secure` on HTTPS requests regardless."),
    Option("cookie_samesite", _text, "Lax", "`SameSite` attribute: `Lax`, `Strict` or `None`."),
    Option("session_timeout", _positive_int, 1800, "Seconds of inactivity after which the "
           "next request starts a new session."),
    Option("trusted_proxies", _trust, ProxyTrust(), "Whom to believe about the client: empty "
           "(nobody), a hop count like `1`, or addresses/CIDRs like `10.0.0.0/8,127.0.0.1`."),
    Option("stitch", _vendors, frozenset(_VENDORS), "Client-side analytics cookies to read "
           "into `stitch`: `all`, `none`, or a list of snowplow, ga, segment, posthog, "
           "amplitude, mixpanel."),
    Option("snowplow_suffix", _optional_text, None, "Prefer the Snowplow cookies `_sp_id.<suffix>`"
           " and `_sp_ses.<suffix>` (the tracker's domain hash) when several exist."),
    Option("snowplow_prefix", _text, "_sp_", "The Snowplow tracker's cookie prefix "
           "(its `cookieName` option)."),
    Option("visitor_id_from", _optional_vendor, None, "Adopt this vendor's browser id (e.g. "
           "`snowplow`) as the visitor id of a visitor who arrives without `sst_id`, when it "
           "is a UUID."),
    Option("ip_mode", _choice("truncate", "full", "hash", "drop"), "truncate", "What reaches "
           "sinks of the client IP: `truncate` (IPv4 /24, IPv6 /48), `hash` (keyed, daily "
           "salt), `drop`, or `full`."),
    Option("honour_gpc", _bool, True, "Treat `Sec-GPC: 1` as a refusal of consent."),
    Option("honour_dnt", _bool, False, "Treat `DNT: 1` as a refusal of consent."),
    Option("consent_cookie", _optional_text, None, "The cookie your consent banner sets; when "
           "configured, only a granted value (`1`, `true`, `yes`, `granted`, `accepted`, "
           "`allow`, `all`) allows cookies."),
    Option("consent_hook", _callable, None, "A callable (or `module:function` path) given "
           "the request headers; returns True, False, or None to let the other rules decide."),
    Option("without_consent", _choice("cookieless", "skip"), "cookieless", "Without consent: "
           "`cookieless` records the request under a daily cookieless id and sets no cookie; "
           "`skip` records nothing."),
    Option("scrub_mode", _choice("denylist", "allowlist"), "denylist", "Query parameters: "
           "`denylist` redacts sensitive ones; `allowlist` keeps only `allow_params`."),
    Option("scrub_params", _words, (), "More parameter names to redact, added to the built-in "
           "denylist: a name matches as a whole word, `*stem*` anywhere in the name."),
    Option("allow_params", _words, ("ref", "source", "utm_*"), "Parameters kept in allowlist "
           "mode."),
    Option("redact_emails", _bool, True, "Replace email addresses in URLs, referrers and query "
           "values with `[email]`."),
    Option("pseudonymise_user_id", _bool, False, "Replace `user_id` with a keyed HMAC (needs "
           "`secret`)."),
    Option("secret", _optional_text, None, "A secret of 16+ characters: keys pseudonymous user "
           "ids, and derives daily salts so every host agrees on cookieless ids and IP hashes."),
    Option("state_dir", _optional_text, None, "Where daily random salts are kept when no "
           "`secret` is set (default: a per-user directory in the system temp dir)."),
    Option("enrich", _bool, True, "Parse the user agent into browser, OS and device fields "
           "and flag bots (in the worker)."),
    Option("bots", _choice("tag", "drop"), "tag", "`tag` sets `is_bot`; `drop` also discards "
           "bot events."),
    Option("geoip_db", _optional_text, None, "Path of a MaxMind-format database (GeoLite2-City "
           "or -Country) for country, subdivision and city fields; needs `sstrack[geo]`."),
    Option("exclude_paths", _words, (), "Path patterns never tracked, added to the built-in "
           "ones (static files, health checks, favicon): `/exact`, `/prefix/*`, globs, `re:...`."),
    Option("exclude_methods", _words, ("OPTIONS",), "HTTP methods never tracked."),
    Option("exclude_hook", _callable, None, "A callable (or `module:function` path) "
           "`hook(method, path)`; True excludes the request."),
    Option("sample_rate", _rate, 1.0, "Fraction of visitors whose events are kept, chosen "
           "consistently by visitor id so a kept visitor's whole journey is kept."),
    Option("before_send", _callable, None, "A callable (or `module:function` path) given each "
           "event in the worker; returns the event (changed or not) or None to drop it."),
    Option("queue_size", _positive_int, 10_000, "Events held in memory per process before the "
           "overflow policy applies."),
    Option("queue_full", _choice("drop_oldest", "drop_newest"), "drop_oldest",
           "Overflow policy: `drop_oldest` or `drop_newest`."),
    Option("batch_size", _positive_int, 512, "Queued events that wake the worker early; also "
           "the largest batch written at once."),
    Option("flush_interval", _positive_float, 1.0, "Longest time, in seconds, an event waits "
           "in memory before it is written."),
    Option("shutdown_timeout", _positive_float, 5.0, "Seconds the exit-time flush may take."),
    Option("spool_dir", _optional_text, None, "Directory for the disk spool: events a sink "
           "cannot take are kept here and replayed in order when it recovers or the process "
           "restarts. Off when unset; recommended with Kafka."),
    Option("spool_max_bytes", _positive_int, 1 << 30, "Size cap of the spool per sink; past "
           "it the oldest spooled events are dropped (counted)."),
    Option("spool_fsync", _fsync, "1000", "When spooled events are forced to disk: `never`, "
           "`always`, or every N milliseconds."),
    Option("dead_letter_dir", _text, "./sstrack-dead-letter", "Where events a sink permanently "
           "rejects are written, with the reason (created when first needed)."),
    Option("retry_max_delay", _positive_float, 30.0, "Cap, in seconds, of the exponential "
           "backoff between retries of a failing sink."),
    Option("strict", _bool, False, "Raise `ValueError` from `track`/`identify` on invalid "
           "input (for development and tests) instead of logging and counting it."),
)


@dataclass(frozen=True)
class Config:
    """The validated settings; build it with :meth:`Config.load`."""

    enabled: bool
    sinks: tuple[str, ...]
    cookie_name: str
    session_cookie_name: str
    cookie_max_age: int
    cookie_domain: str | None
    cookie_secure: bool
    cookie_samesite: str
    session_timeout: int
    trusted_proxies: ProxyTrust
    stitch: frozenset[str]
    snowplow_suffix: str | None
    snowplow_prefix: str
    visitor_id_from: str | None
    ip_mode: str
    honour_gpc: bool
    honour_dnt: bool
    consent_cookie: str | None
    consent_hook: Callable[..., Any] | None
    without_consent: str
    scrub_mode: str
    scrub_params: tuple[str, ...]
    allow_params: tuple[str, ...]
    redact_emails: bool
    pseudonymise_user_id: bool
    secret: str | None
    state_dir: str | None
    enrich: bool
    bots: str
    geoip_db: str | None
    exclude_paths: tuple[str, ...]
    exclude_methods: tuple[str, ...]
    exclude_hook: Callable[..., Any] | None
    sample_rate: float
    before_send: Callable[..., Any] | None
    queue_size: int
    queue_full: str
    batch_size: int
    flush_interval: float
    shutdown_timeout: float
    spool_dir: str | None
    spool_max_bytes: int
    spool_fsync: str
    dead_letter_dir: str
    retry_max_delay: float
    strict: bool
    environ: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    """The ``SSTRACK_*`` variables seen at load time (sinks read their own settings)."""

    @property
    def cookie_policy(self) -> CookiePolicy:
        """The cookie settings as the identity module takes them."""
        return CookiePolicy(self.cookie_name, self.session_cookie_name, self.cookie_max_age,
                            self.session_timeout, self.cookie_domain, self.cookie_secure,
                            self.cookie_samesite)

    @classmethod
    def load(cls, options: Mapping[str, Any] | None = None,
             environ: Mapping[str, str] | None = None) -> Config:
        """Merge keyword options over ``SSTRACK_*`` variables over defaults, and validate.

        Raises:
            ConfigError: listing every invalid or unknown option at once.
        """
        options = dict(options or {})
        environ = os.environ if environ is None else environ
        problems = _unknown(options, environ)
        values: dict[str, Any] = {}
        for option in OPTIONS:
            source = f"{option.name}=" if option.name in options else option.env
            raw = options.get(option.name, environ.get(option.env))
            if raw is None:
                values[option.name] = option.default
                continue
            try:
                values[option.name] = option.parse(raw)
            except (ValueError, TypeError) as exc:
                problems.append(f"{source} {raw!r}: {exc}")
                values[option.name] = option.default
        ours = {k: v for k, v in environ.items() if k.startswith("SSTRACK_")}
        config = cls(**values, environ=ours)
        problems += config.cookie_policy.problems()
        problems += _sink_problems(config)
        problems += _pipeline_problems(config)
        if problems:
            raise ConfigError(problems)
        return config


def _unknown(options: Mapping[str, Any], environ: Mapping[str, str]) -> list[str]:
    names = [option.name for option in OPTIONS]
    problems = []
    for key in options:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(f"unknown option {key!r}{hint} (valid: {', '.join(names)})")
    envs = {option.env for option in OPTIONS}
    for key in environ:
        # Sinks read their own variables (SSTRACK_KAFKA_*), so a typo here only warns.
        if key.startswith("SSTRACK_") and key not in envs and not key.startswith("SSTRACK_KAFKA_"):
            close = difflib.get_close_matches(key, sorted(envs), n=1)
            logger.warning("ignoring unknown variable %s%s", key,
                           f" (did you mean {close[0]}?)" if close else "")
    return problems


def _pipeline_problems(config: Config) -> list[str]:
    from .pipeline import Pipeline

    try:
        Pipeline(config)
    except ValueError as exc:
        return str(exc).splitlines()
    return []


def _sink_problems(config: Config) -> list[str]:
    from .sinks import build_sink, redact

    problems = []
    for url in config.sinks:
        shown = redact(url)  # a URL may carry a password; never echo it
        try:
            build_sink(url, config.environ)
        except ValueError as exc:
            problems.append(f"SSTRACK_SINKS {shown!r}: {exc}")
        except ImportError as exc:
            problems.append(f"SSTRACK_SINKS {shown!r}: needs an extra package ({exc.name}); "
                            "install it, e.g. pip install 'sstrack[kafka]'")
    return problems
