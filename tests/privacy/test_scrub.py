"""Query, URL and referrer scrubbing on real URLs: tokens, emails, campaigns, repeats."""

from __future__ import annotations

import copy
from urllib.parse import quote, quote_plus, unquote

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sstrack.event import query_pairs
from sstrack.privacy.scrub import (
    DEFAULT_DENYLIST,
    DEFAULT_SCRUB_POLICY,
    ScrubPolicy,
    redact_emails,
    scrub_query,
    scrub_url,
)

ALLOW = ScrubPolicy(mode="allowlist", allowlist=("utm_*", "ref", "page", "q", "next"))


@pytest.mark.parametrize(
    "name",
    [
        "password", "Password", "user_password", "passwd", "pwd", "new-pwd", "pass", "pw",
        "secret", "client_secret", "token", "access_token", "id_token", "refresh_token",
        "accessToken", "csrftoken", "csrfmiddlewaretoken", "_xsrf", "XSRF-TOKEN", "jwt",
        "auth", "auth_code", "authKey", "Authorization", "oauth_verifier", "api_key", "apikey",
        "apiKey", "X-Api-Key", "key", "license_key", "AWSAccessKeyId", "X-Amz-Signature",
        "X-Amz-Credential", "sig", "hmac", "session", "sessionid", "session_id", "PHPSESSID",
        "JSESSIONID", "connect.sid", "sid", "email", "Email", "e-mail", "user_email", "mail",
        "phone", "phoneNumber", "tel", "ssn", "social_security_number", "cc", "cc_number",
        "credit_card", "creditCardNumber", "card_number", "cvv", "cvc", "iban", "ip",
        "ip_address", "first_name", "lastName", "date_of_birth", "dob", "passport_no",
        "pin", "otp",
    ],
)
def test_default_denylist_matches(name: str) -> None:
    assert DEFAULT_SCRUB_POLICY.denies(name)


@pytest.mark.parametrize(
    "name",
    [
        "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "utm_id",
        "gclid", "fbclid", "msclkid", "ref", "source", "page", "p", "q", "query", "search",
        "sort", "order", "lang", "locale", "category", "tag", "id", "product_id", "variant",
        "limit", "offset", "view", "tab", "filter", "type", "format", "v", "keyword",
        "keywords", "monkey", "turkey", "author", "authority", "side", "inside", "classname",
        "passenger", "compass", "impression", "position", "description", "subscription",
        "country", "zip", "tip", "hotel", "state", "code", "step", "color", "size",
    ],
)
def test_default_denylist_spares_useful_names(name: str) -> None:
    assert not DEFAULT_SCRUB_POLICY.denies(name)


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([], []),
        (
            [{"param": "utm_source", "value": "newsletter"},
             {"param": "utm_medium", "value": "email"}],
            [{"param": "utm_source", "value": "newsletter"},
             {"param": "utm_medium", "value": "email"}],
        ),
        (
            [{"param": "token", "value": "eyJhbGciOiJIUzI1NiJ9.e30.abc"},
             {"param": "page", "value": "2"}],
            [{"param": "token", "value": "[redacted]"}, {"param": "page", "value": "2"}],
        ),
        (  # repeats kept, in order
            [{"param": "tag", "value": "a"}, {"param": "api_key", "value": "k1"},
             {"param": "tag", "value": "b"}, {"param": "api_key", "value": "k2"}],
            [{"param": "tag", "value": "a"}, {"param": "api_key", "value": "[redacted]"},
             {"param": "tag", "value": "b"}, {"param": "api_key", "value": "[redacted]"}],
        ),
        (  # empty values stay empty: nothing to hide, and the name still shows
            [{"param": "token", "value": ""}],
            [{"param": "token", "value": ""}],
        ),
        (
            [{"param": "q", "value": "contact jane.doe+news@example.co.uk please"}],
            [{"param": "q", "value": "contact [email] please"}],
        ),
        (  # double-encoded: the decoded value still holds %40
            [{"param": "q", "value": "jane%40example.com"}],
            [{"param": "q", "value": "[email]"}],
        ),
        (  # a nested URL's parameters are scrubbed too
            [{"param": "next", "value": "/reset?token=s3cret&step=2"}],
            [{"param": "next", "value": "/reset?token=[redacted]&step=2"}],
        ),
        (  # an address as a parameter name
            [{"param": "jane@example.com", "value": ""}],
            [{"param": "[email]", "value": ""}],
        ),
    ],
)
def test_scrub_query(pairs: list[dict[str, str]], expected: list[dict[str, str]]) -> None:
    before = copy.deepcopy(pairs)
    assert scrub_query(pairs) == expected
    assert pairs == before  # input untouched


def test_scrub_query_drops_malformed_items_and_accepts_none() -> None:
    pairs = [{"param": "a", "value": "1"}, {"param": "b"}, {"param": 3, "value": "x"}]
    assert scrub_query(pairs) == [{"param": "a", "value": "1"}]  # type: ignore[arg-type]
    assert scrub_query(None) == []


def test_scrub_query_fails_closed() -> None:
    assert scrub_query([object()]) == []  # type: ignore[list-item]


def test_scrub_query_allowlist_drops_unlisted_and_still_redacts() -> None:
    policy = ScrubPolicy(mode="allowlist", allowlist=("utm_*", "page", "session_type"))
    pairs = [
        {"param": "utm_source", "value": "ads"}, {"param": "UTM_Campaign", "value": "x"},
        {"param": "fbclid", "value": "IwAR0"}, {"param": "page", "value": "a@b.io"},
        {"param": "session_type", "value": "trial"},
    ]
    assert scrub_query(pairs, policy) == [
        {"param": "utm_source", "value": "ads"}, {"param": "UTM_Campaign", "value": "x"},
        {"param": "page", "value": "[email]"}, {"param": "session_type", "value": "[redacted]"},
    ]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (None, None),
        ("", ""),
        ("https://example.com/", "https://example.com/"),
        (  # nothing to scrub: byte-identical, odd encodings included
            "https://example.com/a%20b/?q=caf%C3%A9&x=1+2&&y=%zz#top",
            "https://example.com/a%20b/?q=caf%C3%A9&x=1+2&&y=%zz#top",
        ),
        (
            "https://shop.example.com/checkout?utm_source=google&utm_medium=cpc&token=abc123",
            "https://shop.example.com/checkout?utm_source=google&utm_medium=cpc&token=[redacted]",
        ),
        (
            "https://example.com/login?next=%2Faccount&password=hunter2&Password=x&pwd=",
            "https://example.com/login?next=%2Faccount&password=[redacted]&Password=[redacted]&pwd=",
        ),
        (
            "https://example.com/?email=jane%40example.com&ref=mail",
            "https://example.com/?email=[redacted]&ref=mail",
        ),
        (
            "https://example.com/s?q=jane.doe%40example.com&page=2",
            "https://example.com/s?q=[email]&page=2",
        ),
        (
            "https://example.com/s?q=write+to+jane%40example.com+today",
            "https://example.com/s?q=write+to+[email]+today",
        ),
        (
            "https://example.com/s?q=jane%252Bx%2540example.com",  # encoded twice
            "https://example.com/s?q=[email]",
        ),
        (
            "https://example.com/s?q=Jane@Example.COM",
            "https://example.com/s?q=[email]",
        ),
        (
            "https://example.com/unsubscribe/jane%40example.com/confirm",
            "https://example.com/unsubscribe/[email]/confirm",
        ),
        (
            "https://example.com/u/jane@example.com",
            "https://example.com/u/[email]",
        ),
        (
            "https://admin:hunter2@example.com:8443/x?a=1",
            "https://[redacted]@example.com:8443/x?a=1",
        ),
        (
            "https://example.com/cb?code=4%2F0Ad&state=xyz#access_token=ya29.a0&token_type=Bearer",
            "https://example.com/cb?code=4%2F0Ad&state=xyz#access_token=[redacted]&token_type=[redacted]",
        ),
        (
            "https://example.com/#/search?q=shoes&sessionid=abc",
            "https://example.com/#/search?q=shoes&sessionid=[redacted]",
        ),
        (
            "https://example.com/?a=1&a=2&sid=x&a=3",
            "https://example.com/?a=1&a=2&sid=[redacted]&a=3",
        ),
        (  # a referrer whose redirect target carries a token
            "https://accounts.example.org/signin?continue=https%3A%2F%2Fapp.example.com%2Fcb"
            "%3Ftoken%3Dabc%26lang%3Den&hl=en",
            "https://accounts.example.org/signin?continue=https://app.example.com/cb"
            "%3Ftoken%3D[redacted]%26lang%3Den&hl=en",  # a changed value is re-encoded
        ),
        ("/search?q=x&api_key=k", "/search?q=x&api_key=[redacted]"),
        ("mailto:jane@example.com", "mailto:[email]"),
        ("https://example.com/p?", "https://example.com/p?"),
    ],
)
def test_scrub_url(url: str | None, expected: str | None) -> None:
    assert scrub_url(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://example.com/p?utm_source=x&fbclid=IwAR&page=3&token=t&gclid=G",
            "https://example.com/p?utm_source=x&page=3",
        ),
        ("https://example.com/p?fbclid=IwAR&gclid=G", "https://example.com/p"),
        ("https://example.com/p?fbclid=IwAR#frag", "https://example.com/p#frag"),
        ("https://example.com/p?q=jane%40example.com", "https://example.com/p?q=[email]"),
        (
            "https://example.com/p?next=%2Fx%3Fpage%3D2%26uid%3D7",
            "https://example.com/p?next=/x%3Fpage%3D2",
        ),
    ],
)
def test_scrub_url_allowlist(url: str, expected: str) -> None:
    assert scrub_url(url, ALLOW) == expected


def test_extra_denylist_and_replacement() -> None:
    extra = ScrubPolicy(extra_denylist=("code", "*ticket*"))
    assert scrub_url("/cb?code=abc&ticket_id=1&page=2", extra) == (
        "/cb?code=[redacted]&ticket_id=[redacted]&page=2"
    )
    only_key_dropped = ScrubPolicy(denylist=tuple(e for e in DEFAULT_DENYLIST if e != "key"))
    assert scrub_url("/map?key=north&token=t", only_key_dropped) == (
        "/map?key=north&token=[redacted]"
    )


def test_emails_can_be_kept() -> None:
    policy = ScrubPolicy(redact_emails=False)
    assert scrub_url("/s?q=jane%40example.com&token=t", policy) == (
        "/s?q=jane%40example.com&token=[redacted]"
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mode": "strict"},
        {"denylist": "password"},
        {"extra_denylist": ("*",)},
        {"extra_denylist": ("to*ken",)},
        {"extra_denylist": ("---",)},
        {"allowlist": ("*",)},
        {"allowlist": ("utm_**",)},
        {"allowlist": ("*_id",)},
    ],
)
def test_policy_rejects_bad_settings(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ScrubPolicy(**kwargs)  # type: ignore[arg-type]


def test_policy_accepts_lists_and_is_hashable() -> None:
    policy = ScrubPolicy(extra_denylist=["code"])  # type: ignore[arg-type]
    assert policy.extra_denylist == ("code",)
    assert hash(policy) == hash(ScrubPolicy(extra_denylist=("code",)))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("no address here", "no address here"),
        ("@handle and a@b", "@handle and a@b"),
        ("jane@example.com", "[email]"),
        ("<jane.o'neil+tag@mail.example.co.uk>", "<[email]>"),
        ("a@b.com, c@d.org", "[email], [email]"),
        ("Jürgen@müller.de", "[email]"),
        ("mailto:jane@example.com?subject=hi", "mailto:[email]?subject=hi"),
        ("jane%40example.com", "[email]"),
        ("jane%2540example.com", "[email]"),
    ],
)
def test_redact_emails(text: str, expected: str) -> None:
    assert redact_emails(text) == expected


def test_matches_event_query_pairs() -> None:
    """The structured query and the raw URL agree on what is redacted."""
    raw = "utm_source=x&token=t&q=jane%40example.com&q=2"
    pairs = scrub_query(query_pairs(raw))
    assert pairs == [
        {"param": "utm_source", "value": "x"}, {"param": "token", "value": "[redacted]"},
        {"param": "q", "value": "[email]"}, {"param": "q", "value": "2"},
    ]
    assert scrub_url("/?" + raw) == "/?utm_source=x&token=[redacted]&q=[email]&q=2"


def test_hostile_input_is_linear_enough() -> None:
    """Pathological strings finish (behaviour, not timing: the test timeout is the bound)."""
    for text in ("a" * 50_000 + "@", "%41" * 20_000 + "@x", "a@" * 20_000, "?=" * 20_000):
        assert isinstance(redact_emails(text), str)
        assert isinstance(scrub_url("/p?q=" + text), str)


# Property tests ---------------------------------------------------------------------------

TEXT = st.text(max_size=40)
EMAILS = st.emails()


def _leaked(email: str, out: str | None) -> bool:
    """Whether ``email`` can be read in ``out``, raw or after up to three decodings."""
    if out is None:
        return False
    lowered = email.lower()
    for _ in range(4):
        if lowered in out.lower():
            return True
        out = unquote(out)
    return False


def _splits_before_at(email: str) -> bool:
    """A local part ending in ``&``, ``#``, ``?``, ``/`` or ``=`` splits an unencoded URL
    right before the ``@``: no address is left in what a server reads."""
    return email.partition("@")[0][-1:] in ("&", "#", "?", "/", "=")


def _encodings(email: str) -> list[str]:
    return [email, quote(email, safe=""), quote_plus(email), quote(quote(email, safe=""), safe="")]


@settings(max_examples=300, deadline=None)
@given(url=st.text(max_size=200), policy=st.sampled_from([DEFAULT_SCRUB_POLICY, ALLOW]))
def test_scrub_url_never_raises(url: str, policy: ScrubPolicy) -> None:
    out = scrub_url(url, policy)
    assert isinstance(out, str)  # the fail-closed None is for bugs, and there are none here
    if policy is DEFAULT_SCRUB_POLICY:
        assert out.count("&") >= url.partition("#")[0].partition("?")[2].count("&")


@settings(max_examples=300, deadline=None)
@given(
    pairs=st.lists(st.fixed_dictionaries({"param": TEXT, "value": TEXT}), max_size=5),
    policy=st.sampled_from([DEFAULT_SCRUB_POLICY, ALLOW]),
)
def test_scrub_query_never_raises(pairs: list[dict[str, str]], policy: ScrubPolicy) -> None:
    out = scrub_query(pairs, policy)
    assert all(set(p) == {"param", "value"} for p in out)
    if policy is DEFAULT_SCRUB_POLICY:
        assert [p["param"] for p in out] == [redact_emails(p["param"]) for p in pairs]


@settings(max_examples=500, deadline=None)
@given(email=EMAILS, before=TEXT, after=TEXT, name=st.sampled_from(["q", "ref", "page", "x"]),
       where=st.sampled_from(["query", "path", "fragment", "name"]), encoding=st.integers(0, 3))
def test_no_email_gets_through_a_url(email: str, before: str, after: str, name: str,
                                     where: str, encoding: int) -> None:
    assume(encoding > 0 or not _splits_before_at(email))
    encoded = _encodings(email)[encoding]
    # The text around the address is encoded so that it cannot break the URL apart.
    around = quote(before, safe=""), quote(after, safe="")
    inner = around[0] + encoded + around[1]
    url = {
        "query": f"https://example.com/p?a=1&{name}={inner}&b=2",
        "path": f"https://example.com/u/{inner}/x?a=1",
        "fragment": f"https://example.com/p?a=1#{inner}",
        "name": f"https://example.com/p?{inner}=1",
    }[where]
    for policy in (DEFAULT_SCRUB_POLICY, ALLOW):
        assert not _leaked(email, scrub_url(url, policy))


@settings(max_examples=300, deadline=None)
@given(email=EMAILS, before=TEXT, after=TEXT)
def test_no_email_gets_through_a_raw_url(email: str, before: str, after: str) -> None:
    """Even when the address is pasted in unencoded, special characters and all."""
    assume(not _splits_before_at(email))
    url = f"https://example.com/p?q={before}{email}{after}"
    assert not _leaked(email, scrub_url(url))


@settings(max_examples=500, deadline=None)
@given(email=EMAILS, before=TEXT, after=TEXT, encoding=st.integers(0, 1),
       name=st.sampled_from(["q", "ref", "utm_content"]))
def test_no_email_gets_through_query_pairs(email: str, before: str, after: str, encoding: int,
                                           name: str) -> None:
    value = before + (email if encoding == 0 else quote(email)) + after
    for policy in (DEFAULT_SCRUB_POLICY, ALLOW):
        out = scrub_query([{"param": name, "value": value}, {"param": email, "value": "1"}],
                          policy)
        assert not any(_leaked(email, p["param"]) or _leaked(email, p["value"]) for p in out)
