"""PostHog: ``ph_<token>_posthog`` ids and the liveness of ``$sesid``."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from sstrack.stitch import adoptable_visitor_id, parse_cookie_header, read_stitch

NOW = 1746825600  # 87.655 s after the vectors' last activity
TOKEN = "phc_Xq3F8mT2vL9sK4pR7wN1bJ6hD0cY5gA2eU8iO3tZ1fM"
NAME = f"ph_{TOKEN}_posthog"
DEVICE = "0196b1c1-f2c0-71c2-93e4-f5a6b7c8d9e0"
SESSION = "0196b6e8-eb7b-7a1b-ac3d-4e5f6a7b8c9d"
LIVE_VECTOR = (
    "%7B%22distinct_id%22%3A%220196b1c1-f2c0-71c2-93e4-f5a6b7c8d9e0%22%2C%22%24sesid%22%3A%5B"
    "1746825512345%2C%220196b6e8-eb7b-7a1b-ac3d-4e5f6a7b8c9d%22%2C1746825440123%5D%2C%22%24epp"
    "%22%3Atrue%2C%22%24device_id%22%3A%220196b1c1-f2c0-71c2-93e4-f5a6b7c8d9e0%22%7D"
)
IDENTIFIED_LEGACY_SESID_VECTOR = (
    "%7B%22distinct_id%22%3A%22user_42%22%2C%22%24sesid%22%3A%5B1746825512345%2C%22"
    "0196b6e8-eb7b-7a1b-ac3d-4e5f6a7b8c9d%22%5D%2C%22%24device_id%22%3A%22"
    "0196b1c1-f2c0-71c2-93e4-f5a6b7c8d9e0%22%2C%22%24user_state%22%3A%22identified%22%7D"
)


def encode(props: dict[str, Any]) -> str:
    """What posthog-js writes: encodeURIComponent(JSON.stringify(props))."""
    return quote(json.dumps(props, separators=(",", ":")), safe="-_.!~*'()")


def posthog(header: str, now: float = NOW) -> dict[str, Any] | None:
    return read_stitch(parse_cookie_header(header), now=now).get("posthog")


def test_encode_matches_the_real_cookie() -> None:
    props = {
        "distinct_id": DEVICE,
        "$sesid": [1746825512345, SESSION, 1746825440123],
        "$epp": True,
        "$device_id": DEVICE,
    }
    assert encode(props) == LIVE_VECTOR


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(
            LIVE_VECTOR,
            {
                "token": TOKEN,
                "distinct_id": DEVICE,
                "device_id": DEVICE,
                "last_activity_at": "2025-05-09T21:18:32.345Z",
                "session_id": SESSION,
                "session_started_at": "2025-05-09T21:17:20.123Z",
            },
            id="anonymous-live",
        ),
        pytest.param(
            IDENTIFIED_LEGACY_SESID_VECTOR,
            {
                "token": TOKEN,
                "distinct_id": "user_42",
                "device_id": DEVICE,
                "user_state": "identified",
                "last_activity_at": "2025-05-09T21:18:32.345Z",
                "session_id": SESSION,
                "session_started_at": "2025-05-09T21:18:32.345Z",  # 2 elements: start = activity
            },
            id="identified-legacy-2-element-sesid",
        ),
        pytest.param(
            encode({"distinct_id": DEVICE, "$sesid": [0, None, 0]}),
            {"token": TOKEN, "distinct_id": DEVICE},
            id="no-session-sentinel",
        ),
        pytest.param(
            encode({"distinct_id": 42}),
            {"token": TOKEN, "distinct_id": "42"},
            id="numeric-distinct-id",
        ),
        pytest.param(
            encode({"distinct_id": DEVICE, "$sesid": "broken", "$device_id": None}),
            {"token": TOKEN, "distinct_id": DEVICE},
            id="malformed-sesid-and-null-device",
        ),
        pytest.param(
            encode({"$device_id": DEVICE, "$sesid": [1746825512345, SESSION, 1746825440123, 9]}),
            {"token": TOKEN, "device_id": DEVICE},
            id="unknown-sesid-shape",
        ),
    ],
)
def test_cookie_values(value: str, expected: dict[str, Any]) -> None:
    assert posthog(f"{NAME}={value}") == expected


def test_posthog_js_unit_test_value_with_empty_token() -> None:
    assert posthog("ph__posthog=%7B%22distinct_id%22%3A%22testy%22%7D") == {"distinct_id": "testy"}


@pytest.mark.parametrize(
    ("now", "live"),
    [
        pytest.param(1746825512.345 + 1800, True, id="idle-exactly-30-min"),
        pytest.param(1746825512.345 + 1801, False, id="idle-over-30-min"),
        pytest.param(1746825512.345 - 1700, True, id="client-clock-ahead"),
    ],
)
def test_idle_timeout(now: float, live: bool) -> None:
    found = posthog(f"{NAME}={LIVE_VECTOR}", now=now)
    assert found is not None
    assert ("session_id" in found) is live
    assert found["device_id"] == DEVICE  # ids stay whatever the session does


def test_session_older_than_24_hours_is_over_despite_activity() -> None:
    start = (NOW - 25 * 3600) * 1000
    props = {"distinct_id": DEVICE, "$sesid": [NOW * 1000 - 60_000, SESSION, start]}
    found = posthog(f"{NAME}={encode(props)}")
    assert found is not None
    assert "session_id" not in found


@pytest.mark.parametrize(
    "value",
    [
        "",
        "undefined",
        "%7B",  # truncated
        "%5B1%2C2%5D",  # an array, not an object
        encode({"$sesid": [1746825512345, SESSION, 1746825440123]}),  # no identity
        encode({"distinct_id": "", "$device_id": "null"}),
        encode({"distinct_id": "x" * 4100}),  # over the value cap
        "%FF%FE",
    ],
)
def test_garbage_is_ignored(value: str) -> None:
    assert posthog(f"{NAME}={value}") is None


def test_metadata_sibling_is_not_the_identity() -> None:
    assert posthog(f"{NAME}_cpm={encode({'distinct_id': 'meta'})}") is None


def test_several_projects_most_recently_active_wins() -> None:
    older = encode({"distinct_id": "older", "$sesid": [1746825000000, SESSION, 1746825000000]})
    for header in (
        f"ph_phc_AAA_posthog={older}; {NAME}={LIVE_VECTOR}",
        f"{NAME}={LIVE_VECTOR}; ph_phc_AAA_posthog={older}",
    ):
        found = posthog(header)
        assert found is not None
        assert (found["token"], found["distinct_id"]) == (TOKEN, DEVICE)


def test_device_id_is_adoptable() -> None:
    stitch = read_stitch(parse_cookie_header(f"{NAME}={IDENTIFIED_LEGACY_SESID_VECTOR}"), now=NOW)
    assert adoptable_visitor_id(stitch, "posthog") == DEVICE
