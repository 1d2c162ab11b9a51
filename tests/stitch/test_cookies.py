"""Cookie header splitting, the shared decoding helpers, and the package's entry points."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping

import pytest

import sstrack.stitch
from sstrack.stitch import (
    ALL_VENDORS,
    StitchOptions,
    adoptable_visitor_id,
    parse_cookie_header,
    read_stitch,
)
from sstrack.stitch.cookies import (
    MAX_CANDIDATES,
    MAX_COOKIES,
    MAX_HEADER_CHARS,
    MAX_VALUE_CHARS,
    as_id,
    as_int,
    cookie_value,
    is_live,
    iso_from_ms,
    load_json_object,
    parse_uint,
    percent_decode,
)

NOW = 1746825600  # 2025-05-09T21:20:00Z, shortly after the vectors' last activity

# One real value per vendor (docs/stitching.md and the reference vectors).
FULL_HEADER = (
    "sessionid=h7k2m9q4w8e1r5t3y6u0; csrftoken=Zq3x8Vb2Nm5Lk7Jh4Gf1Dd9Ss6Aa0Pp; "
    "_sp_id.8809=2c3f1b6e-8d4a-4f2b-9e7c-5a1d0b3c4e6f.1735689600.3.1746825512.1746739000."
    "7d1e2f3a-4b5c-4d6e-8f90-a1b2c3d4e5f6.9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d."
    "0e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b.1746825440123.5; _sp_ses.8809=*; "
    "_ga=GA1.1.1197596843.1673515099; "
    "_ga_ABC123XYZ=GS2.1.s1746825440$o14$g1$t1746825512$j48$l0$h0; "
    "ajs_anonymous_id=5d9f5d5e-8f3c-4c0a-b2a1-0c6f7e8d9a1b; "
    "ph_phc_Xq3F8mT2vL9sK4pR7wN1bJ6hD0cY5gA2eU8iO3tZ1fM_posthog=%7B%22distinct_id%22%3A%22"
    "0196b1c1-f2c0-71c2-93e4-f5a6b7c8d9e0%22%2C%22%24device_id%22%3A%22"
    "0196b1c1-f2c0-71c2-93e4-f5a6b7c8d9e0%22%7D; "
    "AMP_0a1b2c3d4e=JTdCJTIyZGV2aWNlSWQlMjIlM0ElMjJiM2E1YzFmMi02ZDdlLTRmODAtOWExYi0yYzNkNGU1"
    "ZjZhN2IlMjIlMkMlMjJzZXNzaW9uSWQlMjIlM0ExNzQ2ODI1NDQwMTIzJTJDJTIyb3B0T3V0JTIyJTNBZmFsc2Ul"
    "MkMlMjJsYXN0RXZlbnRUaW1lJTIyJTNBMTc0NjgyNTUxMjM0NSUyQyUyMmxhc3RFdmVudElkJTIyJTNBNyUyQyUy"
    "MnBhZ2VDb3VudGVyJTIyJTNBMyU3RA==; "
    "mp_3f7c9a2b1d4e6f8091a2b3c4d5e6f708_mixpanel=%7B%22distinct_id%22%3A%22%24device%3A"
    "9f2c7b1e-3d4a-4c5b-8e6f-7a8b9c0d1e2f%22%2C%22%24device_id%22%3A%22"
    "9f2c7b1e-3d4a-4c5b-8e6f-7a8b9c0d1e2f%22%7D"
)


# --- parse_cookie_header -------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", {}),
        ("a=1", {"a": "1"}),
        ("a=1; b=2", {"a": "1", "b": "2"}),
        ("a=1;b=2", {"a": "1", "b": "2"}),
        ("  a = 1 ;\tb=2  ", {"a": "1", "b": "2"}),
        # First occurrence wins: host-only and .example.com copies of one cookie.
        ("_sp_id.8809=first; _sp_id.8809=second", {"_sp_id.8809": "first"}),
        # Split on the first '=' only: base64 padding survives.
        ("AMP_0a1b2c3d4e=YWJj==", {"AMP_0a1b2c3d4e": "YWJj=="}),
        # Values are not percent-decoded here; each vendor decodes its own way.
        ("ajs_anonymous_id=%22abc%22", {"ajs_anonymous_id": "%22abc%22"}),
        ('q="quoted value"', {"q": '"quoted value"'}),
        ("empty=", {"empty": ""}),
        # Pairs without '=' and empty names are skipped, not fatal.
        ("flag; a=1", {"a": "1"}),
        ("=orphan; a=1", {"a": "1"}),
        (";;; a=1 ;;", {"a": "1"}),
        ("_sp_ses.8809=*", {"_sp_ses.8809": "*"}),
    ],
)
def test_parse_cookie_header(header: str, expected: dict[str, str]) -> None:
    assert parse_cookie_header(header) == expected


def test_parse_cookie_header_keeps_header_order() -> None:
    assert list(parse_cookie_header("z=1; a=2; m=3")) == ["z", "a", "m"]


@pytest.mark.parametrize("header", [None, b"a=1", 42])
def test_parse_cookie_header_tolerates_non_strings(header: object) -> None:
    assert parse_cookie_header(header) == {}  # type: ignore[arg-type]


def test_header_beyond_the_cap_is_not_looked_at() -> None:
    head = "; ".join(f"c{i}=v{i}" for i in range(100))
    tail = "; late=" + "x" * 1_000_000 + "; later=1"
    assert len(head) < MAX_HEADER_CHARS
    assert parse_cookie_header(head + tail) == parse_cookie_header(head)


def test_pair_cut_by_the_header_cap_is_dropped() -> None:
    # A value cut mid-way would be a wrong id, so the partial pair goes.
    filler = "f=" + "x" * (MAX_HEADER_CHARS - 10)
    uuid = "2c3f1b6e-8d4a-4f2b-9e7c-5a1d0b3c4e6f"
    parsed = parse_cookie_header(f"{filler}; ajs_anonymous_id={uuid}")
    assert "ajs_anonymous_id" not in parsed
    assert "f" in parsed


def test_pair_ending_exactly_at_the_cap_is_kept() -> None:
    pair = "a=" + "x" * (MAX_HEADER_CHARS - 2)
    assert parse_cookie_header(pair + "; b=1") == {"a": "x" * (MAX_HEADER_CHARS - 2)}


def test_at_most_max_cookies_pairs_are_split() -> None:
    header = "; ".join(f"c{i}=v" for i in range(MAX_COOKIES * 5))
    parsed = parse_cookie_header(header)
    assert list(parsed) == [f"c{i}" for i in range(MAX_COOKIES)]


# --- helpers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("plain", "plain"),
        ("%22user_42%22", '"user_42"'),
        ("%7B%22a%22%3A1%7D", '{"a":1}'),
        ("caf%C3%A9", "café"),
        ("%2522", "%22"),  # once only: double encoding stays encoded
        ("100%", "100%"),  # a malformed escape is left as it is
        ("%FF%FE", None),  # not UTF-8
    ],
)
def test_percent_decode(raw: str, expected: str | None) -> None:
    assert percent_decode(raw) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("abc", "abc"),
        ("  abc  ", "abc"),
        (12345, "12345"),
        ("", None),
        ("null", None),
        ("undefined", None),
        (None, None),
        (True, None),
        (1.5, None),
        ({"id": 1}, None),
        ("tab\there", None),
        ("\ud800", None),  # a lone surrogate cannot be written as UTF-8 JSON
        ("x" * 513, None),
    ],
)
def test_as_id(value: object, expected: str | None) -> None:
    assert as_id(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1746825440123, 1746825440123),
        (1746825440123.0, 1746825440123),
        (0, 0),
        (-1, None),
        (1.5, None),
        (float("nan"), None),
        (float("inf"), None),
        (True, None),
        ("1746825440123", None),
        (10**30, None),
    ],
)
def test_as_int(value: object, expected: int | None) -> None:
    assert as_int(value) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1746825512", 1746825512),
        ("0", 0),
        ("", None),
        (None, None),
        (" 12", None),
        ("1_000", None),
        ("-5", None),
        ("١٢٣", None),  # int() would accept Arabic-Indic digits
        ("1" * 17, None),
    ],
)
def test_parse_uint(text: str | None, expected: int | None) -> None:
    assert parse_uint(text) == expected


@pytest.mark.parametrize(
    ("ms", "expected"),
    [
        (1746825440123, "2025-05-09T21:17:20.123Z"),
        (1673957921000, "2023-01-17T12:18:41.000Z"),
        (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
        (253_402_300_800_000, None),
        (0, None),
        (None, None),
    ],
)
def test_iso_from_ms(ms: int | None, expected: str | None) -> None:
    assert iso_from_ms(ms) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ("[1, 2]", None),
        ('"string"', None),
        ("{not json", None),
        ("[" * 3000 + "]" * 3000, None),
        ("{" + '"a":' * 2000 + "1" + "}" * 2000, None),  # too deep for the parser
        ('{"a": "' + "x" * MAX_VALUE_CHARS + '"}', None),  # over the size cap
    ],
)
def test_load_json_object(text: str, expected: dict[str, int] | None) -> None:
    assert load_json_object(text) == expected


@pytest.mark.parametrize(
    ("last_ms", "now_ms", "expected"),
    [
        (1_000_000, 1_000_000 + 1_800_000, True),
        (1_000_000, 1_000_000 + 1_800_001, False),
        (1_000_000 + 60_000, 1_000_000, True),  # client clock slightly ahead
        (1_000_000 + 3_600_000, 1_000_000, False),  # client clock far ahead
        (None, 1_000_000, False),
        (0, 1_000, False),
    ],
)
def test_is_live(last_ms: int | None, now_ms: int, expected: bool) -> None:
    assert is_live(last_ms, now_ms) is expected


@pytest.mark.parametrize(
    ("cookies", "expected"),
    [
        ({"a": "1"}, "1"),
        ({"a": ""}, None),
        ({}, None),
        ({"a": "x" * MAX_VALUE_CHARS}, "x" * MAX_VALUE_CHARS),
        ({"a": "x" * (MAX_VALUE_CHARS + 1)}, None),
    ],
)
def test_cookie_value_caps_the_length(cookies: dict[str, str], expected: str | None) -> None:
    assert cookie_value(cookies, "a") == expected


# --- the package's entry points --------------------------------------------------------


def test_public_api_is_pinned() -> None:
    assert sorted(sstrack.stitch.__all__) == [
        "ALL_VENDORS",
        "StitchOptions",
        "adoptable_visitor_id",
        "parse_cookie_header",
        "read_stitch",
        "stitch_from_header",
    ]
    assert sorted(ALL_VENDORS) == ["amplitude", "ga", "mixpanel", "posthog", "segment", "snowplow"]


def test_read_stitch_reads_every_vendor_in_a_real_header() -> None:
    stitch = read_stitch(parse_cookie_header(FULL_HEADER), now=NOW)
    assert list(stitch) == ["snowplow", "ga", "segment", "posthog", "amplitude", "mixpanel"]
    assert stitch["snowplow"]["domain_userid"] == "2c3f1b6e-8d4a-4f2b-9e7c-5a1d0b3c4e6f"
    assert stitch["ga"]["client_id"] == "1197596843.1673515099"
    assert stitch["segment"] == {"anonymous_id": "5d9f5d5e-8f3c-4c0a-b2a1-0c6f7e8d9a1b"}
    assert stitch["posthog"]["device_id"] == "0196b1c1-f2c0-71c2-93e4-f5a6b7c8d9e0"
    assert stitch["amplitude"]["device_id"] == "b3a5c1f2-6d7e-4f80-9a1b-2c3d4e5f6a7b"
    assert stitch["mixpanel"]["device_id"] == "9f2c7b1e-3d4a-4c5b-8e6f-7a8b9c0d1e2f"
    json.dumps(stitch, allow_nan=False)


def test_read_stitch_without_vendor_cookies_is_empty() -> None:
    assert read_stitch(parse_cookie_header("sessionid=abc; csrftoken=def"), now=NOW) == {}


def test_vendors_option_limits_what_is_read() -> None:
    options = StitchOptions(vendors=frozenset({"ga", "segment"}))
    stitch = read_stitch(parse_cookie_header(FULL_HEADER), options, now=NOW)
    assert list(stitch) == ["ga", "segment"]


def test_now_defaults_to_the_system_clock() -> None:
    # The vectors' sessions ended long ago by the real clock: ids stay, sessions go.
    stitch = read_stitch(parse_cookie_header(FULL_HEADER))
    assert "session_id" not in stitch["ga"]
    assert stitch["amplitude"]["device_id"] == "b3a5c1f2-6d7e-4f80-9a1b-2c3d4e5f6a7b"


@pytest.mark.parametrize("now", [float("nan"), float("inf"), 1e305, -1.0])
def test_implausible_now_falls_back_to_the_system_clock(now: float) -> None:
    started = int(time.time())
    cookies = {"_ga_ABC123XYZ": f"GS2.1.s{started}$o1$g1$t{started}"}
    assert read_stitch(cookies, now=now)["ga"]["session_id"] == started


@pytest.mark.parametrize("cookies", [None, "a=1", 42, ["_ga", "GA1.1.1.2"]])
def test_read_stitch_tolerates_non_mappings(cookies: object) -> None:
    assert read_stitch(cookies) == {}  # type: ignore[arg-type]


def test_a_failing_vendor_costs_only_its_own_ids() -> None:
    class Hostile(dict[str, str]):
        def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
            if key == "_ga":
                raise RuntimeError("boom")
            return super().get(key, default)

    cookies = Hostile(parse_cookie_header(FULL_HEADER))
    stitch = read_stitch(cookies, now=NOW)
    assert "ga" not in stitch
    assert "snowplow" in stitch


class CountingCookies(Mapping[str, str]):
    """A huge cookie mapping that counts how many names readers iterate over."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.iterated = 0

    def __getitem__(self, key: str) -> str:
        if key.startswith("x") and key[1:].isdigit() and int(key[1:]) < self.size:
            return "v"
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        for i in range(self.size):
            self.iterated += 1
            yield f"x{i}"

    def __len__(self) -> int:
        return self.size


def test_work_per_request_does_not_grow_with_the_number_of_cookies() -> None:
    small, huge = CountingCookies(MAX_COOKIES), CountingCookies(1_000_000)
    read_stitch(small, now=NOW)
    read_stitch(huge, now=NOW)
    assert huge.iterated == small.iterated
    # One bounded name scan each for Snowplow, GA, PostHog, Mixpanel and both Amplitude formats.
    assert huge.iterated <= 6 * MAX_COOKIES


def test_candidates_per_vendor_are_capped() -> None:
    # Eleven GA properties: only the first MAX_CANDIDATES are parsed.
    header = "; ".join(
        f"_ga_P{i:02d}=GS2.1.s1746825440$o1$t{1746825000 + i}" for i in range(MAX_CANDIDATES + 1)
    )
    ga = read_stitch(parse_cookie_header(header), now=NOW)["ga"]
    assert len(ga["sessions"]) == MAX_CANDIDATES
    assert ga["measurement_id"] == f"G-P{MAX_CANDIDATES - 1:02d}"


UUID = "2c3f1b6e-8d4a-4f2b-9e7c-5a1d0b3c4e6f"


@pytest.mark.parametrize(
    ("stitch", "source", "expected"),
    [
        ({"snowplow": {"domain_userid": UUID}}, "snowplow", UUID),
        ({"snowplow": {"domain_userid": UUID.upper()}}, " Snowplow ", UUID),
        ({"segment": {"anonymous_id": UUID}}, "snowplow", None),  # vendor absent
        ({"snowplow": {"domain_userid": UUID}}, "sstrack", None),  # unknown source
        ({"snowplow": {"network_userid": UUID}}, "snowplow", None),  # not the device id
        ({"snowplow": {"domain_userid": "00000000-0000-0000-0000-000000000000"}}, "snowplow", None),
        ({"snowplow": {"domain_userid": "{" + UUID + "}"}}, "snowplow", None),
        ({"snowplow": {"domain_userid": UUID.replace("-", "")}}, "snowplow", None),
        ({"snowplow": {"domain_userid": UUID + "\n"}}, "snowplow", None),
        ({"snowplow": {"domain_userid": 42}}, "snowplow", None),
        ({"snowplow": None}, "snowplow", None),
        (None, "snowplow", None),
        ({"snowplow": {"domain_userid": UUID}}, None, None),
    ],
)
def test_adoptable_visitor_id(stitch: object, source: object, expected: str | None) -> None:
    assert adoptable_visitor_id(stitch, source) == expected  # type: ignore[arg-type]


def test_stitch_from_header_reads_only_vendor_cookies() -> None:
    from sstrack.stitch import stitch_from_header

    assert stitch_from_header(FULL_HEADER, now=NOW) == read_stitch(
        parse_cookie_header(FULL_HEADER), now=NOW)
    assert stitch_from_header("sessionid=1; csrftoken=2; sp_other=3", now=NOW) == {}
    custom = stitch_from_header(FULL_HEADER.replace("_sp_id.", "trk_id.")
                                .replace("_sp_ses.", "trk_ses."),
                                StitchOptions(snowplow_prefix="trk_"), now=NOW)
    assert custom["snowplow"]["domain_userid"] == "2c3f1b6e-8d4a-4f2b-9e7c-5a1d0b3c4e6f"


def test_repeated_headers_are_served_from_a_cache_as_independent_copies() -> None:
    from sstrack.stitch import stitch_from_header

    first = stitch_from_header(FULL_HEADER, now=NOW)
    first["ga"]["client_id"] = "changed by a before_send hook"
    first["ga"].get("sessions", {}).clear()
    second = stitch_from_header(FULL_HEADER, now=NOW)
    assert second == read_stitch(parse_cookie_header(FULL_HEADER), now=NOW)
    assert second["ga"]["client_id"] == "1197596843.1673515099"
    # a later minute is read afresh: liveness is never more than a minute stale
    assert stitch_from_header(FULL_HEADER, now=NOW + 3600) == read_stitch(
        parse_cookie_header(FULL_HEADER), now=NOW + 3600)
