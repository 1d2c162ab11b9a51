from __future__ import annotations

import pytest

from sstrack.identity import (
    CookiePolicy,
    find_cookie,
    is_valid_id,
    new_id,
    resolve_identity,
    shared_cache_may_store,
)

VID = "0b8f6c1e-1234-4abc-8def-0123456789ab"
SID = "5f0c2a9e-9a1b-4c2d-8e3f-abcdefabcdef"
NOW = 1_800_000_000
POLICY = CookiePolicy()


def resolve(header: str | None, now: int = NOW, policy: CookiePolicy = POLICY):
    return resolve_identity(header, now, policy, "sst_id=", "sst_ses=")


@pytest.mark.parametrize(("header", "expected"), [
    ("sst_id=abc", "abc"),
    ("a=1; sst_id=abc; b=2", "abc"),
    ("a=1;sst_id=abc;b=2", "abc"),
    ("  sst_id = abc", None),           # a space before '=' is another name
    ("xsst_id=abc; sst_id=real", "real"),  # suffix of another name is not a match
    ("sst_id=first; sst_id=second", "first"),  # first occurrence wins
    ('sst_id="quoted"', "quoted"),
    ("sst_id=", ""),
    ("other=1", None),
    ("", None),
    ("sst_id=abc ; x=1", "abc"),
])
def test_find_cookie(header: str, expected: str | None) -> None:
    assert find_cookie(header, "sst_id=") == expected


def test_new_ids_are_valid_random_v4_uuids() -> None:
    ids = {new_id() for _ in range(1000)}
    assert len(ids) == 1000
    for value in ids:
        assert is_valid_id(value)
        assert value[14] == "4" and value[19] in "89ab"


@pytest.mark.parametrize("value", [
    None, "", "abc", VID.upper(), VID + "0", VID[:-1], "g" + VID[1:], VID.replace("-", ""),
    " " + VID[1:], "../../etc/passwd",
])
def test_invalid_ids(value: str | None) -> None:
    assert not is_valid_id(value)


def test_new_visitor_gets_both_cookies() -> None:
    identity = resolve(None)
    assert is_valid_id(identity.visitor_id) and is_valid_id(identity.session_id)
    assert identity.session_index == 1
    assert identity.set_cookies == [
        f"sst_id={identity.visitor_id}",
        f"sst_ses={identity.session_id}.1.{NOW}.{NOW}",
    ]


def test_returning_visitor_within_a_minute_sets_nothing() -> None:
    header = f"sst_id={VID}; sst_ses={SID}.3.{NOW - 59}.{NOW - 3600}"
    identity = resolve(header)
    assert (identity.visitor_id, identity.session_id, identity.session_index) == (VID, SID, 3)
    assert identity.set_cookies == []


def test_activity_after_a_minute_slides_the_session_only() -> None:
    identity = resolve(f"sst_id={VID}; sst_ses={SID}.3.{NOW - 60}.{NOW - 3600}")
    assert (identity.session_id, identity.session_index) == (SID, 3)
    assert identity.set_cookies == [f"sst_ses={SID}.3.{NOW}.{NOW - 3600}"]


def test_inactivity_starts_the_next_session() -> None:
    identity = resolve(f"sst_id={VID}; sst_ses={SID}.3.{NOW - 1800}.{NOW - 3600}")
    assert identity.visitor_id == VID
    assert identity.session_id != SID and is_valid_id(identity.session_id)
    assert identity.session_index == 4
    assert identity.set_cookies == [f"sst_ses={identity.session_id}.4.{NOW}.{NOW - 3600}"]


def test_session_timeout_is_configurable() -> None:
    policy = CookiePolicy(session_timeout=300)
    header = f"sst_id={VID}; sst_ses={SID}.1.{NOW - 300}.{NOW}"
    assert resolve(header, policy=policy).session_index == 2
    assert resolve(header).session_index == 1


def test_visitor_cookie_is_refreshed_at_most_once_a_day() -> None:
    fresh = resolve(f"sst_id={VID}; sst_ses={SID}.2.{NOW - 120}.{NOW - 86_399}")
    assert fresh.set_cookies == [f"sst_ses={SID}.2.{NOW}.{NOW - 86_399}"]
    stale = resolve(f"sst_id={VID}; sst_ses={SID}.2.{NOW - 10}.{NOW - 86_400}")
    assert stale.set_cookies == [f"sst_id={VID}", f"sst_ses={SID}.2.{NOW}.{NOW}"]


def test_known_visitor_without_session_state_keeps_id_and_refreshes() -> None:
    identity = resolve(f"sst_id={VID}")
    assert identity.visitor_id == VID and identity.session_index == 1
    assert identity.set_cookies[0] == f"sst_id={VID}"
    assert identity.set_cookies[1].startswith("sst_ses=")


@pytest.mark.parametrize("visitor", ["forged", VID.upper(), VID + "x" * 5000, "", "%00"])
def test_malformed_visitor_cookie_is_replaced(visitor: str) -> None:
    identity = resolve(f"sst_id={visitor}; sst_ses={SID}.7.{NOW}.{NOW}")
    assert identity.visitor_id != visitor and is_valid_id(identity.visitor_id)
    # a session cannot belong to a visitor we did not recognise
    assert identity.session_id != SID and identity.session_index == 1
    assert identity.set_cookies[0] == f"sst_id={identity.visitor_id}"


@pytest.mark.parametrize("session", [
    "garbage", f"{SID}.0.{NOW}.{NOW}", f"{SID}.-1.{NOW}.{NOW}", f"{SID}.x.{NOW}.{NOW}",
    f"{SID}.1.{NOW}", f"{SID}.1.{NOW}.{NOW}.9", f"NOTUUID.1.{NOW}.{NOW}",
    f"{SID}.1.{NOW}.{NOW}" + "9" * 100, f"{SID}.99999999999.{NOW}.{NOW}",
])
def test_malformed_session_cookie_starts_a_fresh_session(session: str) -> None:
    identity = resolve(f"sst_id={VID}; sst_ses={session}")
    assert identity.visitor_id == VID
    assert identity.session_id != SID and identity.session_index == 1
    assert identity.set_cookies[-1].startswith(f"sst_ses={identity.session_id}.1.{NOW}.")


def test_session_stamp_from_the_future_is_not_trusted() -> None:
    identity = resolve(f"sst_id={VID}; sst_ses={SID}.2.{NOW + 3600}.{NOW}")
    assert identity.session_id != SID and identity.session_index == 3


def test_policy_renames_cookies() -> None:
    identity = resolve_identity(f"v={VID}; s={SID}.1.{NOW}.{NOW}", NOW,
                                CookiePolicy("v", "s"), "v=", "s=")
    assert (identity.visitor_id, identity.session_id) == (VID, SID)


@pytest.mark.parametrize(("policy", "secure", "expected"), [
    (CookiePolicy(), False, "; Max-Age=63072000; Path=/; HttpOnly; SameSite=Lax"),
    (CookiePolicy(), True, "; Max-Age=63072000; Path=/; Secure; HttpOnly; SameSite=Lax"),
    (CookiePolicy(always_secure=True), False,
     "; Max-Age=63072000; Path=/; Secure; HttpOnly; SameSite=Lax"),
    (CookiePolicy(domain=".example.com", max_age=60, samesite="strict"), False,
     "; Max-Age=60; Path=/; Domain=.example.com; HttpOnly; SameSite=Strict"),
])
def test_cookie_attributes(policy: CookiePolicy, secure: bool, expected: str) -> None:
    assert policy.attributes(secure) == expected


@pytest.mark.parametrize(("policy", "fragment"), [
    (CookiePolicy(visitor_name="bad name"), "cookie_name"),
    (CookiePolicy(session_name="a;b"), "session_cookie_name"),
    (CookiePolicy(session_name="sst_id"), "must differ"),
    (CookiePolicy(samesite="sometimes"), "cookie_samesite"),
    (CookiePolicy(samesite="None"), "requires cookie_secure"),
    (CookiePolicy(domain="exa mple.com"), "cookie_domain"),
    (CookiePolicy(session_timeout=100, max_age=100), "session_timeout"),
])
def test_policy_problems(policy: CookiePolicy, fragment: str) -> None:
    problems = policy.problems()
    assert len(problems) == 1 and fragment in problems[0]


def test_valid_policy_has_no_problems() -> None:
    assert CookiePolicy(samesite="None", always_secure=True, domain=".a.io").problems() == []


@pytest.mark.parametrize(("value", "shared"), [
    ("public, max-age=60", True), ("max-age=0, s-maxage=300", True), ("PUBLIC", True),
    ("private, max-age=60", False), ("no-store", False), ("", False),
])
def test_shared_cache_detection(value: str, shared: bool) -> None:
    assert shared_cache_may_store(value) is shared
