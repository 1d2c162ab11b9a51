"""Amplitude: ``AMP_<key>`` (base64 of URL-encoded JSON) and legacy amplitude-js ``amp_<key>``."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

import pytest

from sstrack.stitch import adoptable_visitor_id, parse_cookie_header, read_stitch

NOW = 1746825600
DEVICE = "b3a5c1f2-6d7e-4f80-9a1b-2c3d4e5f6a7b"
VECTOR = (
    "JTdCJTIyZGV2aWNlSWQlMjIlM0ElMjJiM2E1YzFmMi02ZDdlLTRmODAtOWExYi0yYzNkNGU1ZjZhN2IlMjIlMkMl"
    "MjJzZXNzaW9uSWQlMjIlM0ExNzQ2ODI1NDQwMTIzJTJDJTIyb3B0T3V0JTIyJTNBZmFsc2UlMkMlMjJsYXN0RXZl"
    "bnRUaW1lJTIyJTNBMTc0NjgyNTUxMjM0NSUyQyUyMmxhc3RFdmVudElkJTIyJTNBNyUyQyUyMnBhZ2VDb3VudGVy"
    "JTIyJTNBMyU3RA=="
)
LEGACY_DEVICE = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
LEGACY_VECTOR = f"{LEGACY_DEVICE}.dXNlckBleGFtcGxlLmNvbQ==.0.1iqrehqrr.1iqrek1cp.7"


def encode(cache: dict[str, Any]) -> str:
    """What the Browser SDK writes: btoa(encodeURIComponent(JSON.stringify(cache)))."""
    text = quote(json.dumps(cache, separators=(",", ":")), safe="-_.!~*'()")
    return base64.b64encode(text.encode()).decode()


def amplitude(header: str, now: float = NOW) -> dict[str, Any] | None:
    return read_stitch(parse_cookie_header(header), now=now).get("amplitude")


CACHE = {
    "deviceId": DEVICE,
    "sessionId": 1746825440123,
    "optOut": False,
    "lastEventTime": 1746825512345,
    "lastEventId": 7,
    "pageCounter": 3,
}
LIVE = {
    "api_key_prefix": "0a1b2c3d4e",
    "device_id": DEVICE,
    "opt_out": False,
    "last_event_at": "2025-05-09T21:18:32.345Z",
    "session_id": 1746825440123,
}


def test_encode_matches_the_real_cookie() -> None:
    assert encode(CACHE) == VECTOR


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(VECTOR, LIVE, id="browser-sdk-2"),
        pytest.param(quote(VECTOR, safe=""), LIVE, id="rails-7-url-encoded-again"),
        pytest.param(
            encode({**CACHE, "userId": "user@example.com", "optOut": True}),
            {**LIVE, "user_id": "user@example.com", "opt_out": True},
            id="identified-opted-out",
        ),
        pytest.param(
            encode({"deviceId": DEVICE, "sessionId": 1746825440123}),
            {"api_key_prefix": "0a1b2c3d4e", "device_id": DEVICE, "session_id": 1746825440123},
            id="no-event-yet-session-start-decides",
        ),
        pytest.param(
            encode({**CACHE, "lastEventTime": 1746825512345 - 3600_000}),
            {k: v for k, v in LIVE.items() if k != "session_id"}
            | {"last_event_at": "2025-05-09T20:18:32.345Z"},
            id="expired-session-withheld",
        ),
        pytest.param(
            encode({**CACHE, "sessionId": "1746825440123", "optOut": "false"}),
            {k: v for k, v in LIVE.items() if k not in ("session_id", "opt_out")},
            id="wrong-types-dropped",
        ),
    ],
)
def test_browser_sdk_cookie(value: str, expected: dict[str, Any]) -> None:
    assert amplitude(f"AMP_0a1b2c3d4e={value}") == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        VECTOR[:-10],  # truncated: bad base64 padding
        VECTOR.replace("J", "*", 1),  # not base64
        base64.b64encode(b"%7B%22deviceId").decode(),  # truncated JSON inside
        encode({"sessionId": 1746825440123}),  # no identity
        base64.b64encode(b"[1,2,3]").decode(),
        "x" * 5000,
    ],
)
def test_garbage_is_ignored(value: str) -> None:
    assert amplitude(f"AMP_0a1b2c3d4e={value}") is None


@pytest.mark.parametrize(
    "name", ["AMP_MKTG_0a1b2c3d4e", "AMP_MKTG_ORIGINAL_0a1b2c3d4e", "AMP_TLDTEST", "AMP_0a1b2c"]
)
def test_other_amp_cookies_are_not_the_identity(name: str) -> None:
    assert amplitude(f"{name}={VECTOR}") is None


def test_several_projects_most_recent_event_wins() -> None:
    older = encode({**CACHE, "deviceId": "older", "lastEventTime": 1746825000000})
    for header in (
        f"AMP_aaaaaaaaaa={older}; AMP_0a1b2c3d4e={VECTOR}",
        f"AMP_0a1b2c3d4e={VECTOR}; AMP_aaaaaaaaaa={older}",
    ):
        found = amplitude(header)
        assert found is not None
        assert (found["api_key_prefix"], found["device_id"]) == ("0a1b2c3d4e", DEVICE)


LEGACY = {
    "api_key_prefix": "0a1b2c",
    "device_id": LEGACY_DEVICE,
    "user_id": "user@example.com",
    "opt_out": False,
    "last_event_at": "2025-05-09T21:18:32.345Z",
    "session_id": 1746825440123,
}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param(f"amp_0a1b2c={LEGACY_VECTOR}", LEGACY, id="amplitude-js"),
        pytest.param(f"amp_0a1b2c_example.com={LEGACY_VECTOR}", LEGACY, id="domain-suffixed-name"),
        pytest.param(
            f"amp_0a1b2c={LEGACY_DEVICE}..1.1iqrehqrr.1iqrek1cp.7.0.0",
            {k: v for k, v in LEGACY.items() if k != "user_id"} | {"opt_out": True},
            id="anonymous-opted-out-8-fields",
        ),
        pytest.param(
            f"amp_0a1b2c={LEGACY_DEVICE}.dXNlckBleGFtcGxlLmNvbQ==.0.0.0.0",
            {
                "api_key_prefix": "0a1b2c",
                "device_id": LEGACY_DEVICE,
                "user_id": "user@example.com",
                "opt_out": False,
            },
            id="no-session",
        ),
        pytest.param(
            f"amp_0a1b2c={LEGACY_DEVICE}.%%%.0.1iqrehqrr.1iqrek1cp",
            {k: v for k, v in LEGACY.items() if k != "user_id"},
            id="undecodable-user-id-dropped",
        ),
    ],
)
def test_legacy_cookie(header: str, expected: dict[str, Any]) -> None:
    assert amplitude(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        "amp_cookie_test=1746825512345",  # amplitude-js's own cookie probe
        f"amp_0a1b2c={LEGACY_DEVICE}.dXNlcg==.0",  # truncated
        "amp_0a1b2c=a.b.c.d.e.f.g.h.i.j",  # too many fields
        "amp_0a1b2c=....",
    ],
)
def test_legacy_garbage_is_ignored(header: str) -> None:
    assert amplitude(header) is None


def test_browser_sdk_cookie_wins_over_a_migration_leftover() -> None:
    found = amplitude(f"amp_0a1b2c={LEGACY_VECTOR}; AMP_0a1b2c3d4e={VECTOR}")
    assert found == LIVE


def test_device_id_is_adoptable() -> None:
    stitch = read_stitch(parse_cookie_header(f"AMP_0a1b2c3d4e={VECTOR}"), now=NOW)
    assert adoptable_visitor_id(stitch, "amplitude") == DEVICE
