"""Privacy building blocks: pure functions and small policies, no I/O on the request path.

* :mod:`.ip`: IP anonymisation (``truncate``, ``full``, ``hash``, ``drop``).
* :mod:`.scrub`: query, URL and referrer scrubbing (denylist or allowlist, emails).
* :mod:`.consent`: the consent decision and cookieless visitor ids.
* :mod:`.salt`: daily-rotating salts shared by a host's processes.
* :mod:`.pseudonym`: keyed pseudonyms for user ids.
* :mod:`.sampling`: per-visitor consistent sampling.
* :mod:`.exclude`: paths and methods that are never tracked.

The user-facing reference is ``docs/privacy.md``.
"""

from __future__ import annotations

from .consent import (
    DEFAULT_GRANTED_VALUES,
    MISSING_CONSENT_MODES,
    ConsentHook,
    ConsentPolicy,
    consent_granted,
    cookieless_visitor_id,
)
from .exclude import DEFAULT_EXCLUDED_METHODS, DEFAULT_EXCLUDED_PATHS, ExclusionHook, Exclusions
from .ip import DEFAULT_IP_MODE, IP_MODES, anonymise_ip, validate_ip_mode
from .pseudonym import pseudonymise
from .salt import DailySalt, default_state_dir
from .sampling import keep_visitor, validate_sample_rate
from .scrub import (
    DEFAULT_ALLOWLIST,
    DEFAULT_DENYLIST,
    DEFAULT_SCRUB_POLICY,
    EMAIL_PLACEHOLDER,
    REDACTED,
    SCRUB_MODES,
    ScrubPolicy,
    redact_emails,
    scrub_query,
    scrub_url,
)

__all__ = [
    "DEFAULT_ALLOWLIST",
    "DEFAULT_DENYLIST",
    "DEFAULT_EXCLUDED_METHODS",
    "DEFAULT_EXCLUDED_PATHS",
    "DEFAULT_GRANTED_VALUES",
    "DEFAULT_IP_MODE",
    "DEFAULT_SCRUB_POLICY",
    "EMAIL_PLACEHOLDER",
    "IP_MODES",
    "MISSING_CONSENT_MODES",
    "REDACTED",
    "SCRUB_MODES",
    "ConsentHook",
    "ConsentPolicy",
    "DailySalt",
    "ExclusionHook",
    "Exclusions",
    "ScrubPolicy",
    "anonymise_ip",
    "consent_granted",
    "cookieless_visitor_id",
    "default_state_dir",
    "keep_visitor",
    "pseudonymise",
    "redact_emails",
    "scrub_query",
    "scrub_url",
    "validate_ip_mode",
    "validate_sample_rate",
]
