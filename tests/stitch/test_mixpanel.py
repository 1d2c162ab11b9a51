"""Mixpanel: ``mp_<token>_mixpanel`` across the identity v3 (2.46+) and older formats."""

from __future__ import annotations

from typing import Any

import pytest

from sstrack.stitch import adoptable_visitor_id, parse_cookie_header, read_stitch

TOKEN = "3f7c9a2b1d4e6f8091a2b3c4d5e6f708"
NAME = f"mp_{TOKEN}_mixpanel"
DEVICE = "9f2c7b1e-3d4a-4c5b-8e6f-7a8b9c0d1e2f"
ANONYMOUS_V3 = (
    "%7B%22distinct_id%22%3A%22%24device%3A9f2c7b1e-3d4a-4c5b-8e6f-7a8b9c0d1e2f%22%2C%22"
    "%24device_id%22%3A%229f2c7b1e-3d4a-4c5b-8e6f-7a8b9c0d1e2f%22%2C%22%24initial_referrer%22"
    "%3A%22%24direct%22%2C%22%24initial_referring_domain%22%3A%22%24direct%22%7D"
)
IDENTIFIED_V3 = (
    "%7B%22distinct_id%22%3A%22user-42%22%2C%22%24device_id%22%3A%22"
    "9f2c7b1e-3d4a-4c5b-8e6f-7a8b9c0d1e2f%22%2C%22%24initial_referrer%22%3A%22https%3A%2F%2F"
    "www.google.com%2F%22%2C%22%24initial_referring_domain%22%3A%22www.google.com%22%2C%22"
    "%24user_id%22%3A%22user-42%22%7D"
)
# Before 2.46 ids were T-R-UA-se-T; before 2.62 JSONEncode wrote ": " separators.
LEGACY_ID = "18f5a3c2b1d4e5-0a9b8c7d6e5f4-26001d51-1fa400-18f5a3c2b1d4e6"
LEGACY = (
    "%7B%22distinct_id%22%3A%20%2218f5a3c2b1d4e5-0a9b8c7d6e5f4-26001d51-1fa400-18f5a3c2b1d4e6"
    "%22%2C%22%24device_id%22%3A%20%2218f5a3c2b1d4e5-0a9b8c7d6e5f4-26001d51-1fa400-18f5a3c2b1d4e6"
    "%22%2C%22%24initial_referrer%22%3A%20%22%24direct%22%2C%22%24initial_referring_domain%22%3A"
    "%20%22%24direct%22%7D"
)


def mixpanel(header: str) -> dict[str, Any] | None:
    return read_stitch(parse_cookie_header(header), now=0).get("mixpanel")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(
            ANONYMOUS_V3,
            {"distinct_id": f"$device:{DEVICE}", "device_id": DEVICE},
            id="v3-anonymous",
        ),
        pytest.param(
            IDENTIFIED_V3,
            {"distinct_id": "user-42", "device_id": DEVICE, "user_id": "user-42"},
            id="v3-identified",
        ),
        pytest.param(
            LEGACY, {"distinct_id": LEGACY_ID, "device_id": LEGACY_ID}, id="pre-2.46-spaced-json"
        ),
        pytest.param(
            "%7B%22distinct_id%22%3A%22%24device%3A" + DEVICE + "%22%7D",
            {"distinct_id": f"$device:{DEVICE}", "device_id": DEVICE},
            id="device-id-from-distinct-id",
        ),
    ],
)
def test_cookie_values(value: str, expected: dict[str, Any]) -> None:
    assert mixpanel(f"{NAME}={value}") == {"token": TOKEN, **expected}


@pytest.mark.parametrize(
    "value",
    [
        "",
        "undefined",
        ANONYMOUS_V3[:40],  # truncated
        "%7B%22%24initial_referrer%22%3A%22%24direct%22%7D",  # no identity
        "%7B%22distinct_id%22%3Anull%7D",
        "%22just%20a%20string%22",
        "%FF",
    ],
)
def test_garbage_is_ignored(value: str) -> None:
    assert mixpanel(f"{NAME}={value}") is None


def test_several_projects_first_usable_in_header_wins() -> None:
    other = "mp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa_mixpanel"
    found = mixpanel(f"{other}=broken; {NAME}={IDENTIFIED_V3}; {other}2={ANONYMOUS_V3}")
    assert found is not None
    assert (found["token"], found["user_id"]) == (TOKEN, "user-42")


def test_non_identity_mp_cookies_are_ignored() -> None:
    assert mixpanel(f"mp_optout=1; mp_{TOKEN}_mixpanel_extra={ANONYMOUS_V3}") is None


@pytest.mark.parametrize(("value", "adopted"), [(ANONYMOUS_V3, DEVICE), (LEGACY, None)])
def test_only_uuid_device_ids_are_adoptable(value: str, adopted: str | None) -> None:
    stitch = read_stitch(parse_cookie_header(f"{NAME}={value}"), now=0)
    assert adoptable_visitor_id(stitch, "mixpanel") == adopted
