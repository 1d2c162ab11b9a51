"""Snowplow: ``_sp_id`` in every generation, ``_sp_ses`` liveness, suffix choice, ``sp``."""

from __future__ import annotations

from typing import Any

import pytest

from sstrack.stitch import StitchOptions, adoptable_visitor_id, parse_cookie_header, read_stitch

NOW = 1746825600

DUID = "2c3f1b6e-8d4a-4f2b-9e7c-5a1d0b3c4e6f"
SID = "7d1e2f3a-4b5c-4d6e-8f90-a1b2c3d4e5f6"
PREV = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
FIRST = "0e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"
V4_THIRD_SESSION = f"{DUID}.1735689600.3.1746825512.1746739000.{SID}.{PREV}.{FIRST}.1746825440123.5"
# Verbatim from browser-tracker-core/test/helpers.test.ts: first session, empty fields 5 and 7.
V4_FIRST_SESSION = (
    "e8be487a-01f2-4355-9f54-a0b0a9eb25a4.1673957921.1.1673959786..65134acc-3374-4efb-bf6f-"
    "dc891e804248..df52bd6b-14d5-475e-977a-082f27ff54a0.1673957921210.38"
)
V3_SIX_FIELDS = (
    "5f3c8e2a-1b4d-4c6e-9f8a-7b6c5d4e3f2a.1609459200.12.1700000000.1699900000."
    "4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8"
)
LEGACY_FIVE_FIELDS = "a1b2c3d4e5f60718.1420070400.7.1450000000.1449000000"
ANONYMOUS = f".1746825440.2.1746825512.1746739000.{SID}..{FIRST}.1746825440123.3"


def snowplow(header: str, **options: Any) -> dict[str, Any] | None:
    return read_stitch(parse_cookie_header(header), StitchOptions(**options), now=NOW).get(
        "snowplow"
    )


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param(
            f"_sp_id.8809={V4_THIRD_SESSION}; _sp_ses.8809=*",
            {
                "suffix": "8809",
                "domain_userid": DUID,
                "domain_sessionidx": 3,
                "created_at": "2025-01-01T00:00:00.000Z",
                "last_event_at": "2025-05-09T21:18:32.000Z",
                "last_visit_at": "2025-05-08T21:16:40.000Z",
                "domain_sessionid": SID,
                "previous_session_id": PREV,
                "first_event_id": FIRST,
                "first_event_at": "2025-05-09T21:17:20.123Z",
                "event_index": 5,
            },
            id="v4-10-fields-live",
        ),
        pytest.param(
            f"_sp_id.8809={V4_THIRD_SESSION}",
            {
                "suffix": "8809",
                "domain_userid": DUID,
                "domain_sessionidx": 3,
                "created_at": "2025-01-01T00:00:00.000Z",
                "last_event_at": "2025-05-09T21:18:32.000Z",
                "last_visit_at": "2025-05-08T21:16:40.000Z",
            },
            id="v4-10-fields-expired-session-withheld",
        ),
        pytest.param(
            f"_sp_id.83fc={V4_FIRST_SESSION}; _sp_ses.83fc=*",
            {
                "suffix": "83fc",
                "domain_userid": "e8be487a-01f2-4355-9f54-a0b0a9eb25a4",
                "domain_sessionidx": 1,
                "created_at": "2023-01-17T12:18:41.000Z",
                "last_event_at": "2023-01-17T12:49:46.000Z",
                "domain_sessionid": "65134acc-3374-4efb-bf6f-dc891e804248",
                "first_event_id": "df52bd6b-14d5-475e-977a-082f27ff54a0",
                "first_event_at": "2023-01-17T12:18:41.210Z",
                "event_index": 38,
            },
            id="v4-first-session-tracker-test-vector",
        ),
        pytest.param(
            f"_sp_id.2a0b={V3_SIX_FIELDS}; _sp_ses.2a0b=*",
            {
                "suffix": "2a0b",
                "domain_userid": "5f3c8e2a-1b4d-4c6e-9f8a-7b6c5d4e3f2a",
                "domain_sessionidx": 12,
                "created_at": "2021-01-01T00:00:00.000Z",
                "last_event_at": "2023-11-14T22:13:20.000Z",
                "last_visit_at": "2023-11-13T18:26:40.000Z",
                "domain_sessionid": "4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8",
            },
            id="v2.6-v3.4-6-fields-live",
        ),
        pytest.param(
            f"_sp_id.2a0b={V3_SIX_FIELDS}",
            {
                "suffix": "2a0b",
                "domain_userid": "5f3c8e2a-1b4d-4c6e-9f8a-7b6c5d4e3f2a",
                "domain_sessionidx": 12,
                "created_at": "2021-01-01T00:00:00.000Z",
                "last_event_at": "2023-11-14T22:13:20.000Z",
                "last_visit_at": "2023-11-13T18:26:40.000Z",
            },
            id="v2.6-v3.4-6-fields-expired",
        ),
        pytest.param(
            f"_sp_id.2a0b={LEGACY_FIVE_FIELDS}; _sp_ses.2a0b=*",
            {
                "suffix": "2a0b",
                "domain_userid": "a1b2c3d4e5f60718",
                "domain_sessionidx": 7,
                "created_at": "2015-01-01T00:00:00.000Z",
                "last_event_at": "2015-12-13T09:46:40.000Z",
                "last_visit_at": "2015-12-01T20:00:00.000Z",
            },
            id="v0-v2.4-5-fields-16-hex-duid",
        ),
        pytest.param(
            f"_sp_id.8809={ANONYMOUS}; _sp_ses.8809=*",
            {
                "suffix": "8809",
                "domain_sessionidx": 2,
                "created_at": "2025-05-09T21:17:20.000Z",
                "last_event_at": "2025-05-09T21:18:32.000Z",
                "last_visit_at": "2025-05-08T21:16:40.000Z",
                "domain_sessionid": SID,
                "first_event_id": FIRST,
                "first_event_at": "2025-05-09T21:17:20.123Z",
                "event_index": 3,
            },
            id="anonymous-tracking-no-duid",
        ),
    ],
)
def test_id_cookie_generations(header: str, expected: dict[str, Any]) -> None:
    assert snowplow(header) == expected


@pytest.mark.parametrize(
    "value",
    [
        # Percent-encoded by a proxy or framework: decoded once.
        V4_THIRD_SESSION.replace(".", "%2E"),
        # 'undefined' is how older trackers wrote missing fields.
        V4_THIRD_SESSION.replace(f".{PREV}.", ".undefined."),
    ],
)
def test_encoded_and_undefined_fields_still_read(value: str) -> None:
    found = snowplow(f"_sp_id.8809={value}; _sp_ses.8809=*")
    assert found is not None
    assert (found["domain_userid"], found["domain_sessionid"]) == (DUID, SID)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "*",
        "undefined",
        f"{DUID}.1735689600.3.1746825512",  # truncated to 4 fields
        V4_THIRD_SESSION + ".extra",  # 11 fields
        f"{DUID}.1735689600.3.1746825512.1746739000.7d1e2f3a-4b5c",  # truncated session id
        V4_THIRD_SESSION.replace(SID, "not-a-uuid"),
        f"{DUID}.created.3.1746825512.1746739000",  # non-numeric createTs
        f"{DUID}.1735689600..1746825512.1746739000",  # empty visitCount
        f"{DUID}.1735689600.3.1746825512.1746739000".replace(DUID, "has space"),
        "%FF%FE.1.2.3.4",  # not UTF-8
        "x" * 5000,
        "GA1.1.1197596843.1673515099",
    ],
)
def test_garbage_id_cookie_is_ignored(value: str) -> None:
    assert snowplow(f"_sp_id.8809={value}; _sp_ses.8809=*") is None


def test_session_cookie_without_id_cookie_yields_nothing() -> None:
    assert snowplow("_sp_ses.8809=*") is None


def cookie(duid_prefix: str, now_ts: int) -> str:
    """An id cookie whose duid starts with ``duid_prefix`` and whose nowTs is ``now_ts``."""
    duid = duid_prefix + DUID[len(duid_prefix) :]
    return f"{duid}.1735689600.3.{now_ts}.1746739000.{SID}"


@pytest.mark.parametrize(
    ("header", "options", "suffix"),
    [
        pytest.param(
            f"_sp_id.2a0b={cookie('aa', 1700000000)}; _sp_id.8809={cookie('bb', 1746825512)}; "
            "_sp_ses.8809=*",
            {"snowplow_suffix": "2a0b"},
            "2a0b",
            id="configured-suffix-wins-even-if-stale",
        ),
        pytest.param(
            f"_sp_id.2a0b={cookie('aa', 1700000000)}; _sp_ses.2a0b=*",
            {"snowplow_suffix": "8809"},
            "2a0b",
            id="configured-suffix-absent-falls-back",
        ),
        pytest.param(
            f"_sp_id.8809=garbage; _sp_id.2a0b={cookie('aa', 1700000000)}",
            {"snowplow_suffix": "8809"},
            "2a0b",
            id="configured-suffix-garbage-falls-back",
        ),
        pytest.param(
            # v3 -> v4 upgrade leftover: the old cookie has the later nowTs but no session.
            f"_sp_id.2a0b={cookie('aa', 1746825599)}; _sp_id.8809={cookie('bb', 1746825512)}; "
            "_sp_ses.8809=*",
            {},
            "8809",
            id="live-session-beats-later-nowts",
        ),
        pytest.param(
            f"_sp_id.2a0b={cookie('aa', 1700000000)}; _sp_id.8809={cookie('bb', 1746825512)}",
            {},
            "8809",
            id="no-session-highest-nowts",
        ),
        pytest.param(
            f"_sp_id.2a0b={cookie('aa', 1746825512)}; _sp_id.8809={cookie('bb', 1700000000)}; "
            "_sp_ses.2a0b=*; _sp_ses.8809=*",
            {},
            "2a0b",
            id="several-live-highest-nowts",
        ),
        pytest.param(
            f"_sp_id.62df={cookie('aa', 1746825512)}; _sp_id.8809={cookie('bb', 1746825512)}",
            {},
            "62df",
            id="tie-first-in-header",
        ),
    ],
)
def test_choice_among_several_id_cookies(header: str, options: dict[str, Any], suffix: str) -> None:
    found = snowplow(header, **options)
    assert found is not None
    assert found["suffix"] == suffix
    assert found["domain_userid"].startswith({"2a0b": "aa", "8809": "bb", "62df": "aa"}[suffix])


def test_session_is_live_only_with_the_same_suffix() -> None:
    found = snowplow(f"_sp_id.8809={V4_THIRD_SESSION}; _sp_ses.2a0b=*")
    assert found is not None
    assert "domain_sessionid" not in found


def test_duplicate_id_cookie_first_occurrence_wins() -> None:
    header = f"_sp_id.8809={cookie('aa', 1700000000)}; _sp_id.8809={cookie('bb', 1746825512)}"
    found = snowplow(header)
    assert found is not None
    assert found["domain_userid"].startswith("aa")


def test_custom_prefix_is_a_separate_identity() -> None:
    header = (
        f"_sp_id.8809={cookie('aa', 1746825512)}; _sp_ses.8809=*; "
        f"_sp_0id.8809={cookie('bb', 1746825512)}; _sp_0ses.8809=*"
    )
    default, custom = snowplow(header), snowplow(header, snowplow_prefix="_sp_0")
    assert default is not None and custom is not None
    assert default["domain_userid"].startswith("aa")
    assert custom["domain_userid"].startswith("bb")
    assert custom["domain_sessionid"] == SID
    # The default prefix must not pick up a custom tracker's cookie on its own.
    assert snowplow(f"_sp_0id.8809={V4_THIRD_SESSION}") is None


@pytest.mark.parametrize(
    ("sp", "expected"),
    [
        ("8f4d7c2a-1e3b-4a5c-9d6e-7f8a9b0c1d2e", "8f4d7c2a-1e3b-4a5c-9d6e-7f8a9b0c1d2e"),
        # Shared placeholders (SP-Anonymous, cookie bounce) identify nobody.
        ("00000000-0000-0000-0000-000000000000", None),
        ("00000000-0000-4000-A000-000000000000", None),
        ("not-a-uuid", None),
        ("", None),
    ],
)
def test_network_userid_from_collector_cookie(sp: str, expected: str | None) -> None:
    found = snowplow(f"sp={sp}")
    assert found == ({"network_userid": expected} if expected else None)


def test_network_userid_joins_the_id_cookie() -> None:
    found = snowplow(f"_sp_id.8809={V4_THIRD_SESSION}; sp=8f4d7c2a-1e3b-4a5c-9d6e-7f8a9b0c1d2e")
    assert found is not None
    assert (found["domain_userid"], found["network_userid"]) == (
        DUID,
        "8f4d7c2a-1e3b-4a5c-9d6e-7f8a9b0c1d2e",
    )


@pytest.mark.parametrize(
    ("value", "adopted"),
    [
        (V4_THIRD_SESSION, DUID),
        (V4_THIRD_SESSION.replace(DUID, DUID.upper()), DUID),
        (LEGACY_FIVE_FIELDS, None),  # 16 hex characters: not a UUID
        (ANONYMOUS, None),
    ],
)
def test_adoptable_visitor_id(value: str, adopted: str | None) -> None:
    stitch = read_stitch(parse_cookie_header(f"_sp_id.8809={value}"), now=NOW)
    assert adoptable_visitor_id(stitch, "snowplow") == adopted
