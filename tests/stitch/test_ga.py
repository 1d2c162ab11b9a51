"""Google Analytics 4: ``_ga`` client id and ``_ga_<container>`` sessions in GS1 and GS2."""

from __future__ import annotations

from typing import Any

import pytest

from sstrack.stitch import adoptable_visitor_id, parse_cookie_header, read_stitch

NOW = 1746825600  # 88 s after the GS2 vectors' last hit


def ga(header: str, now: float = NOW) -> dict[str, Any] | None:
    return read_stitch(parse_cookie_header(header), now=now).get("ga")


@pytest.mark.parametrize(
    ("value", "client_id"),
    [
        ("GA1.1.1197596843.1673515099", "1197596843.1673515099"),
        ("GA1.2.1827526090.1689745728", "1827526090.1689745728"),
        ("GA1.2-2.1827526090.1689745728", "1827526090.1689745728"),  # non-root cookie path
        ("GA1.1.amp-Xk3Lq9.1673515099", "amp-Xk3Lq9.1673515099"),  # custom ids keep their dots
        ("GA1%2E1%2E1197596843%2E1673515099", "1197596843.1673515099"),
    ],
)
def test_client_id(value: str, client_id: str) -> None:
    assert ga(f"_ga={value}") == {"client_id": client_id}


@pytest.mark.parametrize(
    "value", ["", "GA1.1", "GA1.1.", "UA.1.1197596843.1673515099", "GS1.1.1.2", "undefined"]
)
def test_garbage_client_id_is_ignored(value: str) -> None:
    assert ga(f"_ga={value}") is None


LIVE = {
    "session_id": 1746825440,
    "session_number": 14,
    "engaged": True,
    "last_hit_at": "2025-05-09T21:18:32.000Z",
}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("GS2.1.s1746825440$o14$g1$t1746825512$j48$l0$h0", LIVE, id="gs2"),
        pytest.param(
            "GS2.1.s1746825440$o14$g1$t1746825512$j48$l0$h0$dR2YvLwKSS1jCphuMmKjS-bP4T4IWuOGjQA",
            LIVE,
            id="gs2-with-d-token",
        ),
        pytest.param("GS2.3.t1746825512$g1$o14$s1746825440", LIVE, id="gs2-any-order-version-3"),
        pytest.param(
            "GS2.1.s1746825440$o14$g1$t1746825512$s1$o1", LIVE, id="gs2-first-of-a-key-wins"
        ),
        pytest.param("GS2.1.s1746825440%24o14%24g1%24t1746825512", LIVE, id="gs2-url-encoded"),
        pytest.param("GS1.1.1746825440.14.1.1746825512.60.0.0", LIVE, id="gs1"),
        pytest.param(
            "GS1.1.1746825440.14.0.1746825512",
            {**LIVE, "engaged": False},
            id="gs1-truncated-trailing-fields",
        ),
        pytest.param(
            "GS1.1.1673933110.12.0.1673933110.60.0.0",
            {"session_number": 12, "engaged": False, "last_hit_at": "2023-01-17T05:25:10.000Z"},
            id="gs1-expired-session-withheld",
        ),
        pytest.param(
            "GS2.1.s1746825440$o14",
            {"session_id": 1746825440, "session_number": 14},
            id="gs2-no-last-hit-uses-start",
        ),
    ],
)
def test_session_cookie_formats(value: str, expected: dict[str, Any]) -> None:
    found = ga(f"_ga_ABC123XYZ={value}")
    assert found == {
        "measurement_id": "G-ABC123XYZ",
        **expected,
        "sessions": {"G-ABC123XYZ": expected},
    }


def test_session_expires_after_thirty_minutes_of_inactivity() -> None:
    header = "_ga_ABC123XYZ=GS2.1.s1746825440$o14$g1$t1746825512"
    assert ga(header, now=1746825512 + 1800)["session_id"] == 1746825440  # type: ignore[index]
    assert "session_id" not in ga(header, now=1746825512 + 1801)  # type: ignore[operator]


@pytest.mark.parametrize(
    "value",
    [
        "",
        "GS1",
        "GS2.1.",
        "GS2.1.x$y$z",
        "GS1.1.a.b.c.d",
        "GA1.1.1197596843.1673515099",
        "s1$o2",
        "GS0.0.s0",
    ],
)
def test_garbage_session_cookie_is_ignored(value: str) -> None:
    assert ga(f"_ga_ABC123XYZ={value}") is None


def test_several_properties_most_recent_on_top_all_in_sessions() -> None:
    header = (
        "_ga=GA1.1.1197596843.1673515099; "
        "_ga_OLDPROP1=GS1.1.1673933110.12.0.1673933110.60.0.0; "
        "_ga_ABC123XYZ=GS2.1.s1746825440$o14$g1$t1746825512$j48$l0$h0; "
        "_ga_SECOND99=GS2.1.s1746825000$o3$g0$t1746825100"
    )
    found = ga(header)
    assert found is not None
    assert found["client_id"] == "1197596843.1673515099"
    assert found["measurement_id"] == "G-ABC123XYZ"
    assert found["session_id"] == 1746825440
    assert set(found["sessions"]) == {"G-OLDPROP1", "G-ABC123XYZ", "G-SECOND99"}
    assert found["sessions"]["G-SECOND99"]["session_id"] == 1746825000
    assert "session_id" not in found["sessions"]["G-OLDPROP1"]


def test_gtag_prefixed_and_unrelated_cookies_are_not_sessions() -> None:
    assert ga("_gat_UA123=1; _gid=GA1.1.123.456; _gac_UA-1=1.2.3; _ga_=GS2.1.s1$o1") is None


def test_client_id_is_never_adoptable() -> None:
    stitch = read_stitch(parse_cookie_header("_ga=GA1.1.1197596843.1673515099"), now=NOW)
    assert adoptable_visitor_id(stitch, "ga") is None
