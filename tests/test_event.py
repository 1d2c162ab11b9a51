from __future__ import annotations

import time
import uuid

import pytest

from sstrack.event import LIMITS, clean, primary_language, query_pairs, rfc3339, uuid7


@pytest.mark.parametrize(("value", "limit", "expected"), [
    (None, 10, None),
    ("plain", 10, "plain"),
    ("x" * 20, 10, "x" * 10),
    ("a\x00b\x1fc\x7fd\x85e", 100, "abcde"),
    ("line\r\nbreak", 100, "linebreak"),
    ("ünïcødé ✓", 100, "ünïcødé ✓"),
])
def test_clean(value: str | None, limit: int, expected: str | None) -> None:
    assert clean(value, limit) == expected


@pytest.mark.parametrize(("query", "expected"), [
    ("", []),
    ("a=1&a=2&b=", [("a", "1"), ("a", "2"), ("b", "")]),
    ("utm_source=news%20letter&q=caf%C3%A9", [("utm_source", "news letter"), ("q", "café")]),
    ("flag", [("flag", "")]),
    ("bad=%FF%FE", [("bad", "\ufffd\ufffd")]),
    ("x=%00%0A", [("x", "")]),
])
def test_query_pairs(query: str, expected: list[tuple[str, str]]) -> None:
    assert query_pairs(query) == [{"param": p, "value": v} for p, v in expected]


def test_query_is_bounded() -> None:
    pairs = query_pairs("&".join(f"p{i}={'v' * 5000}" for i in range(1000)))
    assert len(pairs) <= LIMITS["query_params"]
    assert all(len(p["value"]) <= LIMITS["query_value"] for p in pairs)


@pytest.mark.parametrize(("header", "expected"), [
    (None, None), ("", None), ("de-DE,de;q=0.9,en;q=0.8", "de"), ("en-US", "en"),
    ("fr;q=0.5, it;q=0.9", "it"), ("*", None), ("ZH-Hant-TW", "zh"), ("x", None),
    ("en;q=abc, fr", "fr"), ("1234", None), (",,,", None), ("es;q=0", "es"),
])
def test_primary_language(header: str | None, expected: str | None) -> None:
    assert primary_language(header) == expected


def test_rfc3339() -> None:
    assert rfc3339(0) == "1970-01-01T00:00:00.000Z"
    assert rfc3339(1_795_331_206.0599) == "2026-11-22T07:06:46.059Z"
    assert rfc3339(1_795_331_206.9999) == "2026-11-22T07:06:46.999Z"
    assert rfc3339(1_795_331_207.001) == "2026-11-22T07:06:47.001Z"


def test_uuid7_is_versioned_and_time_ordered() -> None:
    now = time.time()
    ids = [uuid7(now + i / 1000) for i in range(100)]
    assert ids == sorted(ids)
    parsed = uuid.UUID(ids[0])
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert int(ids[0].replace("-", "")[:12], 16) == int(now * 1000)
    assert len({uuid7(now) for _ in range(1000)}) == 1000
