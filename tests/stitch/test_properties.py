"""Property tests: whatever a client sends, stitching never raises and stays JSON-serialisable."""

from __future__ import annotations

import base64
import json
import re
import string
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sstrack.stitch import (
    ALL_VENDORS,
    adoptable_visitor_id,
    parse_cookie_header,
    read_stitch,
)
from sstrack.stitch.amplitude import read_amplitude
from sstrack.stitch.cookies import MAX_COOKIES, MAX_HEADER_CHARS, percent_decode
from sstrack.stitch.ga import read_ga
from sstrack.stitch.mixpanel import read_mixpanel
from sstrack.stitch.posthog import read_posthog
from sstrack.stitch.segment import read_segment
from sstrack.stitch.snowplow import read_snowplow

from .test_amplitude import LEGACY_VECTOR
from .test_cookies import FULL_HEADER, NOW

# Deadlines are wall-clock assertions; bounded work is tested by the caps instead.
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

REAL = parse_cookie_header(FULL_HEADER) | {"amp_0a1b2c": LEGACY_VECTOR}
VENDOR_NAMES = [
    *REAL,
    "_sp_id.2a0b",
    "_sp_ses.2a0b",
    "_sp_0id.8809",
    "_sp_0ses.8809",
    "sp",
    "_ga_OTHER1",
    "ajs_user_id",
    "ph__posthog",
    "AMP_zzzzzzzzzz",
    "amp_0a1b2c_example.com",
    "mp_abc_mixpanel",
]
RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")
CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "distinct_id",
                    "$device_id",
                    "$sesid",
                    "deviceId",
                    "userId",
                    "sessionId",
                    "lastEventTime",
                    "optOut",
                    "$user_id",
                    "$user_state",
                ]
            )
            | st.text(max_size=5),
            children,
            max_size=6,
        )
    ),
    max_leaves=12,
)
field_tokens = st.sampled_from(
    [
        "",
        "undefined",
        "0",
        "1",
        "1746825512",
        "1746825440123",
        "9" * 30,
        "-1",
        "1_0",
        "x",
        "2c3f1b6e-8d4a-4f2b-9e7c-5a1d0b3c4e6f",
        "s1746825440",
        "o14",
        "t1746825512",
        "g1",
    ]
) | st.text(max_size=8)


@st.composite
def mutated_real(draw: st.DrawFn) -> str:
    """A real vendor value, cut, patched or re-encoded as proxies and truncation do."""
    value = draw(st.sampled_from(sorted(REAL.values())))
    cut = draw(st.integers(0, len(value)))
    patch = draw(st.text(max_size=4))
    return draw(
        st.sampled_from(
            [value[:cut], value[:cut] + patch + value[cut:], quote(value, safe=""), value * 3]
        )
    )


values = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=string.printable, max_size=60),
    mutated_real(),
    json_values.map(lambda v: quote(json.dumps(v))),
    json_values.map(lambda v: base64.b64encode(quote(json.dumps(v)).encode()).decode()),
    st.lists(field_tokens, max_size=12).map(".".join),
    st.lists(field_tokens, max_size=12).map(lambda t: "GS2.1." + "$".join(t)),
    st.lists(field_tokens, max_size=12).map(lambda t: "GS1.1." + ".".join(t)),
)
names = st.one_of(
    st.sampled_from(VENDOR_NAMES),
    st.builds(
        "".join,
        st.tuples(
            st.sampled_from(["_sp_id.", "_ga_", "ph_", "AMP_", "amp_", "mp_"]), st.text(max_size=12)
        ),
    ),
    st.text(max_size=12),
)
pairs = st.lists(st.tuples(names, values), max_size=20)
separators = st.sampled_from(["; ", ";", " ; ", ";;"])
moments = st.one_of(
    st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**20), 10**20)
)


def header_of(items: list[tuple[str, str]], separator: str = "; ") -> str:
    return separator.join(f"{name}={value}" for name, value in items)


def assert_well_formed(stitch: Mapping[str, Any]) -> None:
    """What consumers rely on: known vendor keys, non-empty objects, UTF-8 JSON scalars."""
    json.dumps(stitch, allow_nan=False)
    orjson.dumps(stitch)  # the event pipeline's serialiser: rejects lone surrogates
    assert set(stitch) <= ALL_VENDORS
    for vendor, fields in stitch.items():
        assert fields, vendor
        for key, value in fields.items():
            if key == "sessions":
                assert all(isinstance(s, dict) and s for s in value.values())
                continue
            assert isinstance(value, (str, int, bool)), (vendor, key, value)
            if key.endswith("_at"):
                assert RFC3339.fullmatch(value), (vendor, key, value)
    for source in ALL_VENDORS:
        adopted = adoptable_visitor_id(stitch, source)
        assert adopted is None or CANONICAL_UUID.fullmatch(adopted)


@FUZZ
@given(st.text(max_size=3000))
def test_any_text_header_splits_cleanly(header: str) -> None:
    cookies = parse_cookie_header(header)
    assert len(cookies) <= MAX_COOKIES
    for name, value in cookies.items():
        assert name and name == name.strip() and ";" not in name + value and "=" not in name
    assert_well_formed(read_stitch(cookies, now=NOW))


@FUZZ
@given(pairs, separators, moments)
def test_vendor_looking_cookies_never_raise(
    items: list[tuple[str, str]], separator: str, now: float | None
) -> None:
    cookies = parse_cookie_header(header_of(items, separator))
    assert_well_formed(read_stitch(cookies, now=now))


@FUZZ
@given(st.dictionaries(names, values, max_size=20), st.integers(0, 2**45))
def test_each_reader_never_raises_on_its_own(cookies: dict[str, str], now_ms: int) -> None:
    # read_stitch would swallow a reader's exception: call the readers directly.
    read_snowplow(cookies)
    read_snowplow(cookies, suffix="8809", prefix="_sp_0")
    read_ga(cookies, now_ms=now_ms)
    read_segment(cookies)
    read_posthog(cookies, now_ms=now_ms)
    read_amplitude(cookies, now_ms=now_ms)
    read_mixpanel(cookies)


VENDOR_PREFIXES = ("_sp_", "sp", "_ga", "ajs_", "ph_", "AMP_", "amp_", "mp_")


@FUZZ
@given(pairs)
def test_real_cookies_survive_noise_around_them(items: list[tuple[str, str]]) -> None:
    # Unrelated cookies before and after never change what the vendors' cookies give.
    noise = [
        (name, value)
        for name, value in items
        if not name.strip().startswith(VENDOR_PREFIXES) and ";" not in name + value
    ]
    noisy_header = header_of(noise[:5] + list(REAL.items()) + noise[5:])
    assert read_stitch(parse_cookie_header(noisy_header), now=NOW) == read_stitch(REAL, now=NOW)


token = st.text(alphabet=string.ascii_letters + string.digits + "_-.%$*", min_size=1, max_size=20)


@FUZZ
@given(st.lists(st.tuples(token, st.text(alphabet=string.ascii_letters + "%.-", max_size=20))))
def test_first_occurrence_of_a_name_wins(items: list[tuple[str, str]]) -> None:
    expected: dict[str, str] = {}
    for name, value in items[:MAX_COOKIES]:
        expected.setdefault(name, value)
    assert parse_cookie_header(header_of(items)) == expected


@settings(max_examples=50, deadline=None)
@given(st.text(min_size=1, max_size=300), st.text(), st.text())
def test_nothing_after_the_header_cap_is_read(chunk: str, tail: str, extra: str) -> None:
    # Hypothesis cannot draw 16 KiB strings directly: repeat a drawn chunk past the cap.
    header = chunk * (MAX_HEADER_CHARS // len(chunk) + 1) + tail
    assert len(header) > MAX_HEADER_CHARS
    assert parse_cookie_header(header + extra) == parse_cookie_header(header)


def unquote_or_none(value: str) -> str | None:
    try:
        return unquote(value, errors="strict")
    except UnicodeDecodeError:
        return None


percent_text = st.lists(
    st.sampled_from(["%", "%2", "%22", "%C3%A9", "%E2%82", "%ff", "%7B", "\\", "\\x41", "a", "é"])
    | st.text(max_size=3)
).map("".join)


@FUZZ
@given(percent_text)
def test_fast_percent_decoding_agrees_with_urllib(value: str) -> None:
    assert percent_decode(value) == unquote_or_none(value)
