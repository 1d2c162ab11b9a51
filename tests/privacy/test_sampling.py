"""Per-visitor consistent sampling."""

from __future__ import annotations

import math
import random
import uuid

import pytest

from sstrack.privacy.sampling import keep_visitor, validate_sample_rate

# Fixed seed: the ids, and so the counts, are the same on every run.
_RNG = random.Random(20250509)
IDS = [str(uuid.UUID(int=_RNG.getrandbits(128), version=4)) for _ in range(10_000)]


@pytest.mark.parametrize("rate", [0.01, 0.1, 0.25, 0.5, 0.9])
def test_kept_fraction_is_close_to_the_rate(rate: float) -> None:
    kept = sum(keep_visitor(visitor, rate) for visitor in IDS)
    # Six standard deviations of a binomial: about one chance in 500 million
    # to fail even with fresh random ids, and the ids here are fixed anyway.
    bound = 6 * math.sqrt(len(IDS) * rate * (1 - rate))
    assert abs(kept - rate * len(IDS)) < bound


@pytest.mark.parametrize("rate", [0.0, 0, 1.0, 1])
def test_edges_keep_none_or_all(rate: float) -> None:
    assert all(keep_visitor(visitor, rate) is (rate == 1) for visitor in IDS[:500])


def test_ids_are_distinct() -> None:
    assert len(set(IDS)) == len(IDS)


def test_a_visitor_is_kept_or_dropped_as_a_whole() -> None:
    """Interleaved events of many journeys: every event of a visitor gets the same answer."""
    shuffled = random.Random(7)
    events = [visitor for visitor in IDS[:1000] for _ in range(20)]
    shuffled.shuffle(events)
    decisions: dict[str, set[bool]] = {}
    for visitor in events:
        decisions.setdefault(visitor, set()).add(keep_visitor(visitor, 0.3))
    assert all(len(answers) == 1 for answers in decisions.values())
    assert {answer for answers in decisions.values() for answer in answers} == {True, False}


def test_raising_the_rate_only_adds_visitors() -> None:
    low = {v for v in IDS if keep_visitor(v, 0.1)}
    high = {v for v in IDS if keep_visitor(v, 0.2)}
    assert low < high


def test_odd_ids_are_fine() -> None:
    for visitor in ["", "x", "\ud800", "é" * 1000]:
        assert keep_visitor(visitor, 0.5) in (True, False)


@pytest.mark.parametrize("rate", [-0.01, 1.01, float("nan"), float("inf"), True, "0.5", None])
def test_invalid_rates_are_refused(rate: object) -> None:
    with pytest.raises(ValueError, match="from 0 to 1"):
        validate_sample_rate(rate)  # type: ignore[arg-type]
    if isinstance(rate, float):
        with pytest.raises(ValueError):
            keep_visitor("v", rate)


@pytest.mark.parametrize(("rate", "expected"), [(0, 0.0), (1, 1.0), (0.25, 0.25)])
def test_validate_sample_rate(rate: float, expected: float) -> None:
    assert validate_sample_rate(rate) == expected
