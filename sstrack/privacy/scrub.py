"""PII scrubbing for query parameters, URLs and referrers.

A denylist (the default) keeps every parameter but replaces the value of
sensitive ones with ``[redacted]``; an allowlist keeps only named
parameters. Either way, email addresses in what is kept become
``[email]``, including percent-encoded ones (``jane%40example.com``) and
ones inside nested URLs such as ``?next=%2Freset%3Ftoken%3D…``.

Everything here fails closed: an unexpected error drops the data rather
than passing it through, and nothing raises into the caller.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus, unquote, unquote_plus

__all__ = [
    "DEFAULT_ALLOWLIST",
    "DEFAULT_DENYLIST",
    "DEFAULT_SCRUB_POLICY",
    "EMAIL_PLACEHOLDER",
    "REDACTED",
    "SCRUB_MODES",
    "ScrubPolicy",
    "redact_emails",
    "scrub_query",
    "scrub_url",
]

REDACTED = "[redacted]"
"""Replaces the value of a denylisted parameter; the name stays, so analysts see it was sent."""

EMAIL_PLACEHOLDER = "[email]"
"""Replaces each email address found in a kept value, name, path or fragment."""

SCRUB_MODES = ("allowlist", "denylist")
"""The accepted scrub modes, sorted."""

DEFAULT_DENYLIST: tuple[str, ...] = (
    # Credentials. ``*x*`` entries match anywhere in the name once separators
    # are removed: access_token, X-CSRF-Token, client_secret, PHPSESSID.
    "*password*", "*passwd*", "*passphrase*", "*pwd*", "*secret*", "*token*", "*apikey*",
    "*accesskey*", "*privatekey*", "*signature*", "*credential*", "*authorization*",
    "*authorisation*", "*oauth*", "*session*", "*sessid*", "*csrf*", "*xsrf*", "*jwt*",
    # Short or ambiguous names match as whole words only: api_key and keyId,
    # but not keyword or monkey; auth_code, but not author; sid, not side.
    "auth", "key", "pass", "pw", "sid", "sig", "hmac", "pin", "otp", "totp", "creds",
    # Contact details and identity.
    "*email*", "mail", "*phone*", "tel", "*msisdn*", "ip", "*ipaddress*", "*firstname*",
    "*lastname*", "*surname*", "*fullname*", "*birth*", "dob", "ssn", "*socialsecurity*",
    "*passport*",
    # Payment.
    "*creditcard*", "*cardnumber*", "*ccnumber*", "*cvv*", "*cvc*", "cc", "ccv", "*iban*",
)
"""Parameter names whose values are redacted; see :class:`ScrubPolicy` for the matching rules."""

DEFAULT_ALLOWLIST: tuple[str, ...] = ("ref", "source", "utm_*")
"""Names kept in allowlist mode: campaign tags and the referral names Plausible reads."""

_MAX_DEPTH = 3  # nested URLs (a redirect target inside a referrer …) scrubbed this deep
_MAX_DECODE = 4  # percent-encoding layers searched for hidden email addresses
# The local part takes every RFC 5322 atext character, so that no unusual
# address ("a=b@…", "x/y@…") keeps a readable tail. URLs are split into
# names, values and path segments before this runs, so it rarely eats more
# than the address ("u=jane@x.org" as free text goes whole).
_LOCAL = r"[\w.!#$%&'*+/=?^`{|}~-]"
# The look-behind lets a match start only where a run of address characters
# starts, which keeps the search linear on hostile input.
_EMAIL = re.compile(rf"(?<!{_LOCAL}){_LOCAL}+@[\w-]+(?:\.[\w-]+)+")
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[^\W\dA-Z_]+|\d+")
_AUTHORITY = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.\-]*:)?//")
_SAFE_QUERY = "[]/:"
_SAFE_PATH = "[]:@!$&'()*+,;="


@functools.lru_cache(maxsize=1024)
def _name_forms(name: str) -> tuple[str, str]:
    """``"X-Api-Key"`` → ``("x api key", "xapikey")``: the words, and the words joined."""
    words = [word.lower() for word in _WORD.findall(name)]
    return " ".join(words), "".join(words)


def _compile_denylist(entries: Iterable[str]) -> tuple[re.Pattern[str] | None,
                                                        re.Pattern[str] | None]:
    words: list[str] = []
    stems: list[str] = []
    for entry in entries:
        stem = len(entry) > 2 and entry[0] == entry[-1] == "*"
        inner = entry[1:-1] if stem else entry
        if "*" in inner:
            raise ValueError(f"denylist entry {entry!r}: '*' is only allowed on both ends")
        spaced, joined = _name_forms(inner)
        if not joined:
            raise ValueError(f"denylist entry {entry!r} has no letters or digits")
        if stem:
            stems.append(re.escape(joined))
        else:
            words.append(re.escape(spaced))
    word_re = re.compile(rf"(?<![^ ])(?:{'|'.join(words)})(?![^ ])") if words else None
    stem_re = re.compile("|".join(stems)) if stems else None
    return word_re, stem_re


@dataclass(frozen=True)
class ScrubPolicy:
    """How parameters are scrubbed; build once at start-up (invalid settings raise ``ValueError``).

    Denylist matching is case-insensitive and works on the name's words: the
    name is split at every character that is not a letter or digit and at
    camelCase boundaries (``X-Api-Key``, ``api_key`` and ``apiKey`` all become
    ``api key``). An entry written ``*stem*`` matches when the stem occurs
    anywhere in the words joined together (``*token*`` matches
    ``access_token`` and ``csrftoken``); any other entry matches when its
    words occur as whole, consecutive words of the name (``key`` matches
    ``api_key`` but not ``keyword``).

    Allowlist entries are exact names or prefixes ending in ``*``
    (``utm_*``), compared case-insensitively with the decoded name.

    Attributes:
        mode: ``denylist`` keeps every parameter and redacts denylisted
            values; ``allowlist`` drops every parameter not allowlisted, and
            still redacts denylisted values among those kept.
        denylist: Replaces :data:`DEFAULT_DENYLIST`.
        extra_denylist: Added to ``denylist``.
        allowlist: Names kept in allowlist mode.
        redact_emails: Replace email addresses in kept values with ``[email]``.
    """

    mode: str = "denylist"
    denylist: tuple[str, ...] = DEFAULT_DENYLIST
    extra_denylist: tuple[str, ...] = ()
    allowlist: tuple[str, ...] = DEFAULT_ALLOWLIST
    redact_emails: bool = True
    _word_re: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)
    _stem_re: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)
    _allow_exact: frozenset[str] = field(init=False, repr=False, compare=False,
                                         default=frozenset())
    _allow_prefixes: tuple[str, ...] = field(init=False, repr=False, compare=False, default=())

    def __post_init__(self) -> None:
        if self.mode not in SCRUB_MODES:
            raise ValueError(f"invalid scrub mode {self.mode!r}; expected one of: "
                             + ", ".join(SCRUB_MODES))
        for name in ("denylist", "extra_denylist", "allowlist"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise ValueError(f"{name} must be a sequence of names, not one string")
            object.__setattr__(self, name, tuple(value))
        word_re, stem_re = _compile_denylist(self.denylist + self.extra_denylist)
        exact = frozenset(e.lower() for e in self.allowlist if not e.endswith("*"))
        prefixes = tuple(e[:-1].lower() for e in self.allowlist if e.endswith("*"))
        if any("*" in e for e in (*exact, *prefixes)) or "" in prefixes:
            raise ValueError("allowlist entries are names or prefixes ending in a single '*'")
        derived = {"_word_re": word_re, "_stem_re": stem_re, "_allow_exact": exact,
                   "_allow_prefixes": prefixes}
        for name, value in derived.items():
            object.__setattr__(self, name, value)

    def denies(self, name: str) -> bool:
        """Whether ``name`` (decoded) is on the denylist."""
        spaced, joined = _name_forms(name)
        return bool((self._word_re and self._word_re.search(spaced))
                    or (self._stem_re and self._stem_re.search(joined)))

    def allows(self, name: str) -> bool:
        """Whether ``name`` (decoded) is on the allowlist."""
        lower = name.lower()
        return lower in self._allow_exact or lower.startswith(self._allow_prefixes)


DEFAULT_SCRUB_POLICY = ScrubPolicy()
"""Denylist mode with the default lists."""


def redact_emails(text: str) -> str:
    """Replace each email address in ``text`` with ``[email]``, also under percent-encoding.

    When an address only appears after decoding (``a%2540b.com`` is
    ``a@b.com`` encoded twice), the text decoded to that depth is returned.
    """
    if "@" in text:
        text = _EMAIL.sub(EMAIL_PLACEHOLDER, text)
    deep = text
    for _ in range(_MAX_DECODE):
        deeper = unquote(deep) if "%" in deep else deep
        if deeper == deep:
            break
        deep = deeper
        if "@" in deep and _EMAIL.search(deep):
            text = deep = _EMAIL.sub(EMAIL_PLACEHOLDER, deep)
    return text


def scrub_query(pairs: Iterable[Mapping[str, str]] | None,
                policy: ScrubPolicy = DEFAULT_SCRUB_POLICY) -> list[dict[str, str]]:
    """Scrub decoded query pairs (``[{"param": …, "value": …}, …]``); order and repeats kept.

    Returns new dicts; malformed items (not two strings) are dropped. Never
    raises: an unexpected error returns ``[]``.
    """
    try:
        scrubbed = []
        for pair in pairs or ():
            name, value = pair.get("param"), pair.get("value")
            if not isinstance(name, str) or not isinstance(value, str):
                continue
            if policy.mode == "allowlist" and not policy.allows(name):
                continue
            value = REDACTED if value and policy.denies(name) else _scrub_text(value, policy, 0)
            if policy.redact_emails:
                name = redact_emails(name)
            scrubbed.append({"param": name, "value": value})
        return scrubbed
    except Exception:
        return []


def scrub_url(url: str | None, policy: ScrubPolicy = DEFAULT_SCRUB_POLICY) -> str | None:
    """Scrub a URL's query string, fragment, path and user info; the rest is kept as is.

    Query and fragment parameters follow ``policy``; user info
    (``user:pass@``) always becomes ``[redacted]@``; email addresses are
    replaced everywhere. Parts with nothing to scrub are kept byte for byte,
    and an allowlist that drops every parameter drops the ``?`` too. Never
    raises: an unexpected error returns ``None``.
    """
    if not url:
        return url
    try:
        return _scrub_url(url, policy, 0)
    except Exception:
        return None


def _scrub_url(url: str, policy: ScrubPolicy, depth: int) -> str:
    if "?" not in url and "#" not in url and "@" not in url and "%" not in url:
        return url
    rest, hash_, fragment = url.partition("#")
    rest, qmark, query = rest.partition("?")
    rest = _scrub_base(rest, policy, depth)
    if query:
        query = _scrub_query_string(query, policy, depth)
        qmark = qmark if query else ""
    if fragment:
        fragment = _scrub_fragment(fragment, policy, depth)
    return rest + qmark + query + hash_ + fragment


def _scrub_base(base: str, policy: ScrubPolicy, depth: int) -> str:
    """Scheme, authority and path: user info redacted, email addresses in the path replaced."""
    prefix, path = "", base
    match = _AUTHORITY.match(base)
    if match:
        end = base.find("/", match.end())
        end = len(base) if end < 0 else end
        authority = base[match.end():end]
        if "@" in authority:
            authority = REDACTED + "@" + authority.rpartition("@")[2]
        prefix, path = base[: match.end()] + authority, base[end:]
    if "@" in path or "%" in path:
        path = "/".join(_scrub_component(seg, policy, depth, plus=False)
                        for seg in path.split("/"))
    return prefix + path


def _scrub_fragment(fragment: str, policy: ScrubPolicy, depth: int) -> str:
    if "?" in fragment and depth < _MAX_DEPTH:
        return _scrub_url(fragment, policy, depth + 1)  # a hash route: "#/search?q=…"
    if "=" in fragment:
        return _scrub_query_string(fragment, policy, depth)  # "#access_token=…&state=…"
    return _scrub_component(fragment, policy, depth, plus=False)


def _scrub_query_string(query: str, policy: ScrubPolicy, depth: int) -> str:
    kept = []
    for segment in query.split("&"):
        name_raw, eq, value_raw = segment.partition("=")
        name = unquote_plus(name_raw) if "%" in name_raw or "+" in name_raw else name_raw
        if policy.mode == "allowlist" and not policy.allows(name):
            continue
        if value_raw and policy.denies(name):
            value_raw = REDACTED
        else:
            value_raw = _scrub_component(value_raw, policy, depth, plus=True)
        name_raw = _scrub_component(name_raw, policy, depth, plus=True)
        kept.append(name_raw + eq + value_raw)
    return "&".join(kept)


def _scrub_component(raw: str, policy: ScrubPolicy, depth: int, *, plus: bool) -> str:
    """Scrub one raw (percent-encoded) value, name, path segment or fragment.

    Scrubbing works on the decoded text; only a component that changes is
    re-encoded, so everything else stays byte-identical.
    """
    decode, encode, safe = (unquote_plus, quote_plus, _SAFE_QUERY) if plus else (
        unquote, quote, _SAFE_PATH)
    text = decode(raw) if "%" in raw or (plus and "+" in raw) else raw
    new = _scrub_text(text, policy, depth)
    if new != text:
        raw = encode(new, safe=safe, errors="replace")
    # Decoding can also hide an address that is plain in the raw text: in
    # "ab%cd@example.com", "%cd" decodes to an invalid byte, not to "cd".
    if policy.redact_emails and "@" in raw:
        raw = _EMAIL.sub(EMAIL_PLACEHOLDER, raw)
    return raw


def _scrub_text(text: str, policy: ScrubPolicy, depth: int) -> str:
    """Scrub decoded text: a nested URL's parameters, then email addresses."""
    if depth < _MAX_DEPTH and "?" in text and "=" in text:
        text = _scrub_url(text, policy, depth + 1)
    if policy.redact_emails:
        text = redact_emails(text)
    return text
