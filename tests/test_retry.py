"""Backoff with full jitter, and the circuit breaker's states."""

from __future__ import annotations

import random

import pytest

from sstrack.retry import CLOSED, HALF_OPEN, OPEN, Backoff, CircuitBreaker


@pytest.mark.parametrize(("attempt", "ceiling"), [
    (0, 0.1), (1, 0.1), (2, 0.2), (3, 0.4), (6, 3.2), (9, 25.6), (10, 30.0), (10_000, 30.0),
])
def test_backoff_ceiling_doubles_up_to_the_cap(attempt: int, ceiling: float) -> None:
    backoff = Backoff(0.1, 30.0)
    assert backoff.ceiling(attempt) == pytest.approx(ceiling)
    assert Backoff(0.1, 30.0, rand=lambda: 0.0).delay(attempt) == 0.0
    assert Backoff(0.1, 30.0, rand=lambda: 0.999999).delay(attempt) == pytest.approx(ceiling,
                                                                                    rel=1e-5)


def test_full_jitter_spreads_over_the_whole_range() -> None:
    backoff = Backoff(0.1, 2.0, rand=random.Random(7).random)
    delays = [backoff.delay(5) for _ in range(2000)]
    assert all(0.0 <= delay <= 1.6 for delay in delays)
    assert min(delays) < 0.1 and max(delays) > 1.5  # not clustered: retries do not align
    assert 0.7 < sum(delays) / len(delays) < 0.9  # uniform: mean about half the ceiling


def test_backoff_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        Backoff(0, 1)


def test_breaker_opens_after_the_threshold_and_probes_when_due() -> None:
    breaker = CircuitBreaker(Backoff(1.0, 8.0, rand=lambda: 0.5), threshold=3)
    assert breaker.state == CLOSED and breaker.allow(0.0)
    assert breaker.failure(0.0) == 0.5  # closed still spaces out retries
    assert breaker.state == CLOSED and not breaker.allow(0.4) and breaker.allow(0.5)
    breaker.failure(1.0)
    breaker.failure(2.0)  # the third in a row
    assert breaker.state == OPEN and breaker.opened == 1
    assert not breaker.allow(3.9)  # open: the sink is not called at all
    assert breaker.state == OPEN
    assert breaker.allow(4.0) and breaker.state == HALF_OPEN  # one probe
    assert breaker.failure(4.0) == 4.0  # the probe failed: open again, longer
    assert breaker.state == OPEN and breaker.opened == 2 and not breaker.allow(7.9)
    assert breaker.allow(8.0) and breaker.state == HALF_OPEN
    breaker.success()
    assert (breaker.state, breaker.failures, breaker.retry_at) == (CLOSED, 0, 0.0)


def test_trip_opens_at_once_and_the_delay_is_capped() -> None:
    breaker = CircuitBreaker(Backoff(1.0, 3.0, rand=lambda: 0.999), threshold=3)
    breaker.failure(0.0, trip=True)
    assert breaker.state == OPEN
    for attempt in range(20):
        assert breaker.failure(float(attempt)) <= 3.0
