"""The consent decision, the missing-consent setting and cookieless visitor ids."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sstrack.privacy.consent import (
    MISSING_CONSENT_MODES,
    ConsentPolicy,
    consent_granted,
    cookieless_visitor_id,
)

DEFAULT = ConsentPolicy()
GDPR = ConsentPolicy(cookie_name="cookie_consent")
WITH_DNT = ConsentPolicy(honour_dnt=True)
NO_GPC = ConsentPolicy(honour_gpc=False)
SALT = bytes(range(32))
UUID_SHAPE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.mark.parametrize(
    ("policy", "gpc", "dnt", "cookie", "granted"),
    [
        # No consent cookie configured: assumed, unless a signal refuses.
        (DEFAULT, None, None, None, True),
        (DEFAULT, "1", None, None, False),
        (DEFAULT, " 1 ", None, None, False),
        (DEFAULT, "0", None, None, True),
        (DEFAULT, "yes", None, None, True),  # only "1" is the GPC signal
        (DEFAULT, None, "1", None, True),  # DNT is off by default
        (WITH_DNT, None, "1", None, False),
        (WITH_DNT, None, "0", None, True),
        (NO_GPC, "1", None, None, True),
        # A consent cookie configured: only a granted value grants.
        (GDPR, None, None, None, False),
        (GDPR, None, None, "granted", True),
        (GDPR, None, None, "1", True),
        (GDPR, None, None, " TRUE ", True),
        (GDPR, None, None, "denied", False),
        (GDPR, None, None, "0", False),
        (GDPR, None, None, "", False),
        (GDPR, None, None, "garbage", False),
        (GDPR, "1", None, "granted", False),  # GPC wins over the cookie
    ],
)
def test_decision(policy: ConsentPolicy, gpc: str | None, dnt: str | None, cookie: str | None,
                  granted: bool) -> None:
    assert consent_granted(policy, gpc=gpc, dnt=dnt, cookie=cookie) is granted


def _cookiebot(headers: Mapping[str, str]) -> bool | None:
    """A site hook reading a consent manager's cookie, deferring when it is absent."""
    cookie = headers.get("cookie", "")
    if "CookieConsent=" not in cookie:
        return None
    return "statistics:true" in cookie


@pytest.mark.parametrize(
    ("headers", "cookie", "granted"),
    [
        ({"cookie": "CookieConsent={necessary:true,statistics:true}"}, None, True),
        ({"cookie": "CookieConsent={necessary:true,statistics:false}"}, "granted", False),
        ({}, "granted", True),  # the hook defers to the cookie
        ({}, None, False),
    ],
)
def test_hook(headers: dict[str, str], cookie: str | None, granted: bool) -> None:
    policy = ConsentPolicy(cookie_name="c", hook=_cookiebot)
    assert consent_granted(policy, cookie=cookie, headers=headers) is granted


def test_gpc_refuses_before_the_hook_is_asked() -> None:
    calls: list[Mapping[str, str]] = []

    def hook(headers: Mapping[str, str]) -> bool:
        calls.append(headers)
        return True

    policy = ConsentPolicy(hook=hook)
    assert consent_granted(policy, gpc="1", headers={"sec-gpc": "1"}) is False
    assert calls == []
    assert consent_granted(policy, headers={"x": "y"}) is True
    assert calls == [{"x": "y"}]


def test_hook_without_headers_gets_an_empty_mapping() -> None:
    seen: list[Mapping[str, str]] = []

    def hook(headers: Mapping[str, str]) -> None:
        seen.append(headers)

    policy = ConsentPolicy(hook=hook)
    assert consent_granted(policy) is True
    assert seen == [{}]


def test_a_failing_hook_refuses() -> None:
    def broken(headers: Mapping[str, str]) -> bool:
        raise RuntimeError("consent manager down")

    assert consent_granted(ConsentPolicy(hook=broken), headers={}) is False


def test_a_hook_returning_a_non_bool_defers() -> None:
    policy = ConsentPolicy(cookie_name="c", hook=lambda h: "yes")  # type: ignore[arg-type,return-value]
    assert consent_granted(policy, cookie=None, headers={}) is False
    assert consent_granted(policy, cookie="1", headers={}) is True


def test_custom_granted_values_are_normalised() -> None:
    policy = ConsentPolicy(cookie_name="consent", granted_values=frozenset({" Analytics "}))
    assert consent_granted(policy, cookie="analytics") is True
    assert consent_granted(policy, cookie="1") is False


@pytest.mark.parametrize(
    "kwargs",
    [
        {"missing_consent": "drop"},
        {"missing_consent": ""},
        {"granted_values": "granted"},
        {"granted_values": frozenset()},
        {"granted_values": frozenset({" "})},
        {"cookie_name": " "},
    ],
)
def test_policy_rejects_bad_settings(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ConsentPolicy(**kwargs)  # type: ignore[arg-type]


def test_missing_consent_modes() -> None:
    assert MISSING_CONSENT_MODES == ("cookieless", "skip")
    assert DEFAULT.missing_consent == "cookieless"
    assert ConsentPolicy(missing_consent="skip").missing_consent == "skip"
    with pytest.raises(ValueError, match="cookieless, skip"):
        ConsentPolicy(missing_consent="none")


# Cookieless ids -----------------------------------------------------------------------------

UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Version/17.4 Safari"


def _id(salt: bytes = SALT, site: str = "example.com", ip: str = "203.0.113.77",
        ua: str = UA) -> str:
    return cookieless_visitor_id(salt=salt, site=site, ip=ip, user_agent=ua)


def test_cookieless_id_is_a_version_8_uuid() -> None:
    value = _id()
    assert UUID_SHAPE.match(value)
    parsed = uuid.UUID(value)
    assert parsed.version == 8
    assert parsed.variant == uuid.RFC_4122
    assert str(parsed) == value


def test_cookieless_id_is_stable_for_the_same_inputs() -> None:
    assert _id() == _id()


@pytest.mark.parametrize(
    "changed",
    [
        {"salt": bytes(range(1, 33))},  # the next day's salt
        {"site": "shop.example.com"},
        {"ip": "203.0.113.78"},
        {"ua": UA.replace("17.4", "17.5")},
    ],
)
def test_cookieless_id_changes_with_any_input(changed: dict[str, object]) -> None:
    assert _id(**changed) != _id()  # type: ignore[arg-type]


def test_cookieless_id_fields_cannot_run_together() -> None:
    assert _id(site="ab", ip="c") != _id(site="a", ip="bc")
    assert _id(ip="", ua="x") != _id(ip="x", ua="")


def test_cookieless_id_does_not_contain_its_inputs() -> None:
    value = _id(ip="1.2.3.4")
    assert "1.2.3.4" not in value
    assert value != _id(ip="1.2.3.0")  # not derived from an anonymised address


def test_cookieless_id_needs_a_real_salt() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        _id(salt=b"short")


@settings(deadline=None)  # a loaded machine must not fail a correct test
@given(site=st.text(max_size=50), ip=st.text(max_size=50), ua=st.text(max_size=200))
def test_cookieless_id_never_raises_on_odd_text(site: str, ip: str, ua: str) -> None:
    assert UUID_SHAPE.match(_id(site=site, ip=ip, ua=ua))
