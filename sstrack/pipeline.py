"""Privacy and enrichment: decided on the request path where it must be, applied in the worker.

On the request path only two cheap questions are asked: is the request
excluded (a set lookup and a prefix test), and may it carry a cookie
(consent). Everything else runs in the background worker, in this order,
so that raw values are used before they are discarded:

1. without consent: replace the visitor by a daily cookieless id, drop
   session, user and stitch ids;
2. sampling by visitor;
3. user agent → browser, OS, device, ``is_bot`` (bots tagged or dropped);
4. geolocation from the raw IP;
5. IP anonymisation, URL/referrer/query scrubbing, user id pseudonym;
6. the user's ``before_send`` hook.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from ._log import warn_limited
from .enrich import GEO_FIELDS, USER_AGENT_FIELDS, GeoLookup, is_bot, parse_user_agent
from .identity import find_cookie
from .privacy import (
    ConsentPolicy,
    DailySalt,
    Exclusions,
    ScrubPolicy,
    anonymise_ip,
    consent_granted,
    cookieless_visitor_id,
    keep_visitor,
    pseudonymise,
    redact_emails,
    scrub_query,
    scrub_url,
)
from .privacy.exclude import DEFAULT_EXCLUDED_PATHS

if TYPE_CHECKING:
    from .config import Config

__all__ = ["Pipeline"]

T = TypeVar("T")

_NO_USER_AGENT = dict.fromkeys(USER_AGENT_FIELDS) | {"is_bot": None}
_NO_GEO = dict.fromkeys(GEO_FIELDS)


class Pipeline:
    """The privacy and enrichment settings of one configuration.

    Construction validates everything (patterns, the GeoIP file, the
    secret) and raises ``ValueError`` naming the option; it opens nothing.
    """

    def __init__(self, config: Config) -> None:
        problems: list[str] = []

        def attempt(option: str, build: Callable[[], T]) -> T | None:
            try:
                return build()
            except ValueError as exc:
                problems.append(f"SSTRACK_{option.upper()}: {exc}")
                return None

        exclusions = attempt("exclude_paths", lambda: Exclusions(
            paths=(*DEFAULT_EXCLUDED_PATHS, *config.exclude_paths),
            methods=config.exclude_methods, hook=config.exclude_hook))
        consent = attempt("consent_cookie", lambda: ConsentPolicy(
            honour_gpc=config.honour_gpc, honour_dnt=config.honour_dnt,
            cookie_name=config.consent_cookie, hook=config.consent_hook,
            missing_consent=config.without_consent))
        scrub = attempt("scrub_params", lambda: ScrubPolicy(
            mode=config.scrub_mode, extra_denylist=config.scrub_params,
            allowlist=config.allow_params, redact_emails=config.redact_emails))
        salt = attempt("secret", lambda: DailySalt(secret=config.secret,
                                                        state_dir=config.state_dir))
        geo = attempt("geoip_db", lambda: GeoLookup(config.geoip_db or "")) \
            if config.geoip_db else None
        if config.pseudonymise_user_id and not config.secret:
            problems.append("SSTRACK_PSEUDONYMISE_USER_ID: needs a secret; set SSTRACK_SECRET")
        if problems or exclusions is None or consent is None or scrub is None or salt is None:
            raise ValueError("\n".join(problems))
        self.exclusions, self.consent, self.scrub, self.salt = exclusions, consent, scrub, salt
        self.geo = geo
        self.consent_eq = f"{config.consent_cookie}=" if config.consent_cookie else None
        # With only Sec-GPC to look at, the request path needs no function call.
        self.gpc_only = not (config.honour_dnt or config.consent_cookie or config.consent_hook)
        self.honour_gpc = config.honour_gpc
        self.skip_without_consent = config.without_consent == "skip"
        self.pseudonym_key = (config.secret.encode()
                              if config.pseudonymise_user_id and config.secret else None)
        self.ip_mode = config.ip_mode
        self.sample_rate = config.sample_rate
        self.enrich = config.enrich
        self.drop_bots = config.bots == "drop"
        self.before_send = config.before_send
        self.dropped: collections.Counter[str] = collections.Counter()
        self._scrubbed: dict[str, str] = {}

    def consented(self, cookie_header: str | None, gpc: str | None, dnt: str | None,
                  headers: Callable[[], Mapping[str, str]]) -> bool:
        """Whether a request may be tracked with cookies (request path; cheap when simple)."""
        if self.gpc_only:
            return not (self.honour_gpc and gpc is not None and gpc.strip() == "1")
        cookie = None
        if self.consent_eq is not None and cookie_header:
            cookie = find_cookie(cookie_header, self.consent_eq)
        return consent_granted(self.consent, gpc=gpc, dnt=dnt, cookie=cookie,
                               headers=headers() if self.consent.hook else None)

    def apply(self, event: dict[str, Any], consented: bool,
              started: float) -> dict[str, Any] | None:
        """Make an event private and enrich it (worker); ``None`` drops it (counted)."""
        ip, user_agent = event.get("ip"), event.get("user_agent")
        if not consented:
            event["visitor_id"] = cookieless_visitor_id(
                salt=self.salt.current(started), site=event.get("host") or "",
                ip=ip or "", user_agent=user_agent or "")
            event["session_id"] = event["session_index"] = event["user_id"] = None
            event["stitch"] = {}
        if self.sample_rate < 1.0 and not keep_visitor(
                event.get("visitor_id") or event["event_id"], self.sample_rate):
            self.dropped["sampled"] += 1
            return None
        if self.enrich:
            event.update(parse_user_agent(user_agent))
            event["is_bot"] = bot = is_bot(user_agent)
            if bot and self.drop_bots:
                self.dropped["bot"] += 1
                return None
        else:
            event.update(_NO_USER_AGENT)
        event.update(self.geo.lookup(ip) if self.geo is not None and ip else _NO_GEO)
        key = self.salt.current(started) if self.ip_mode == "hash" else None
        event["ip"] = anonymise_ip(ip, self.ip_mode, key=key)
        if self.scrub.redact_emails and event.get("path"):
            event["path"] = redact_emails(event["path"])  # "/reset/jane@example.com"
        event["url"] = self._scrub_url(event.get("url"))
        event["referrer"] = self._scrub_url(event.get("referrer"))
        event["query"] = scrub_query(event.get("query"), self.scrub)
        if self.pseudonym_key is not None:
            event["user_id"] = pseudonymise(event.get("user_id"), self.pseudonym_key)
        return self._before_send(event) if self.before_send is not None else event

    def _scrub_url(self, url: str | None) -> str | None:
        """``scrub_url``, cached: page URLs and referrers repeat across requests.

        The cache holds raw URLs in this process's memory only (like the
        queue), is bounded, and is emptied when it reaches 4096 entries.
        """
        if url is None:
            return None
        scrubbed = self._scrubbed.get(url)
        if scrubbed is None:
            if len(self._scrubbed) >= 4096:
                self._scrubbed.clear()
            scrubbed = self._scrubbed[url] = scrub_url(url, self.scrub) or ""
        return scrubbed or None

    def _before_send(self, event: dict[str, Any]) -> dict[str, Any] | None:
        assert self.before_send is not None
        try:
            result = self.before_send(event)
        except Exception:
            # The hook may exist to remove data; sending the event unchanged
            # could leak what it was meant to remove, so fail closed.
            warn_limited("before_send", "sstrack before_send raised; event dropped",
                         exc_info=True)
            self.dropped["before_send_error"] += 1
            return None
        if result is None:
            self.dropped["before_send"] += 1
            return None
        if not isinstance(result, dict):
            warn_limited("before_send_type", "sstrack before_send returned %s, not a dict or "
                         "None; event dropped", type(result).__name__)
            self.dropped["before_send_error"] += 1
            return None
        return result
