"""Segment: ``ajs_anonymous_id`` and ``ajs_user_id`` in the analytics-next and classic encodings."""

from __future__ import annotations

from typing import Any

import pytest

from sstrack.stitch import adoptable_visitor_id, parse_cookie_header, read_stitch

ANON = "5d9f5d5e-8f3c-4c0a-b2a1-0c6f7e8d9a1b"


def segment(header: str) -> dict[str, Any] | None:
    return read_stitch(parse_cookie_header(header), now=0).get("segment")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(ANON, ANON, id="analytics-next-raw"),
        pytest.param(f"%22{ANON}%22", ANON, id="classic-json-url-encoded"),
        pytest.param(f'"{ANON}"', ANON, id="literal-quotes"),
        pytest.param(f"%2522{ANON}%2522", f"%22{ANON}%22", id="double-encoded-decoded-once"),
    ],
)
def test_anonymous_id_encodings(value: str, expected: str) -> None:
    assert segment(f"ajs_anonymous_id={value}") == {"anonymous_id": expected}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("jane@example.com", "jane@example.com"),  # js-cookie leaves '@' literal
        ("jane%40example.com", "jane@example.com"),
        ("%22user_42%22", "user_42"),
        ("12345", "12345"),  # analytics-next reads it back as a number
        ("%2212345%22", "12345"),
        ("%22caf%C3%A9%22", "café"),
        ('"unterminated\\"', "unterminated\\"),  # not JSON: js-cookie strips the quotes
    ],
)
def test_user_id_encodings(value: str, expected: str) -> None:
    assert segment(f"ajs_user_id={value}") == {"user_id": expected}


@pytest.mark.parametrize(
    "value", ["", "null", "%22%22", '""', "undefined", "%22null%22", "%FF", "%22%20%22", "x" * 5000]
)
def test_empty_and_garbage_values_are_absent(value: str) -> None:
    assert segment(f"ajs_anonymous_id={value}; ajs_user_id={value}") is None


def test_both_ids() -> None:
    found = segment(f"ajs_anonymous_id=%22{ANON}%22; ajs_user_id=%22user_42%22")
    assert found == {"anonymous_id": ANON, "user_id": "user_42"}


def test_anonymous_id_is_adoptable() -> None:
    stitch = read_stitch(parse_cookie_header(f"ajs_anonymous_id=%22{ANON}%22"), now=0)
    assert adoptable_visitor_id(stitch, "segment") == ANON
