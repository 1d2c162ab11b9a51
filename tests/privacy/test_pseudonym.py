"""Keyed pseudonyms for user ids."""

from __future__ import annotations

import hmac
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sstrack.privacy.pseudonym import PSEUDONYM_HEX_CHARS, pseudonymise

KEY = b"pseudonym-key-0123456789"


@pytest.mark.parametrize(
    "user_id",
    ["42", "user_8f14e45f", "jane.doe@example.com", "Jürgen", "0", " ", "a" * 10_000],
)
def test_pseudonym_is_keyed_hmac_hex(user_id: str) -> None:
    expected = hmac.new(KEY, b"sstrack-user-id\x00" + user_id.encode(), "sha256").hexdigest()
    out = pseudonymise(user_id, KEY)
    assert out == expected[:PSEUDONYM_HEX_CHARS]
    assert len(out) == 32
    assert user_id not in out or user_id == "0"  # "0" can occur in any hex string


@pytest.mark.parametrize("user_id", [None, ""])
def test_no_user_is_none(user_id: str | None) -> None:
    assert pseudonymise(user_id, KEY) is None


def test_pseudonym_depends_on_the_key_and_the_id() -> None:
    assert pseudonymise("42", KEY) != pseudonymise("42", KEY + b"!")
    assert pseudonymise("42", KEY) != pseudonymise("43", KEY)
    assert pseudonymise("42", KEY) != pseudonymise("42 ", KEY)


def test_pseudonym_is_stable_across_processes() -> None:
    code = ("from sstrack.privacy.pseudonym import pseudonymise; "
            f"print(pseudonymise('42', {KEY!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout.strip()
    assert out == pseudonymise("42", KEY)


def test_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        pseudonymise("42", b"short")
    with pytest.raises(ValueError, match="16 bytes"):
        pseudonymise(None, b"")  # even without a user: it is a configuration error


@settings(deadline=None)  # a loaded machine must not fail a correct test
@given(st.text(min_size=1))
def test_any_text_gets_a_pseudonym(user_id: str) -> None:
    out = pseudonymise(user_id, KEY)
    assert out is not None and len(out) == 32 and int(out, 16) >= 0
