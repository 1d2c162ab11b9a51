"""Capped exponential backoff with full jitter, and the circuit breaker built on it.

Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"): the
n-th delay is drawn uniformly from ``[0, min(cap, base * 2**(n-1))]``, so
processes that failed together do not retry together. The breaker counts
consecutive failures; past a threshold it *opens* and the sink is not
called at all until the current delay has passed, when one attempt (the
*half-open* probe) decides whether it closes again or reopens for longer.
"""

from __future__ import annotations

import random
from collections.abc import Callable

__all__ = ["CLOSED", "HALF_OPEN", "OPEN", "Backoff", "CircuitBreaker"]

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class Backoff:
    """Delays for retry ``n`` (1-based): uniform in ``[0, min(cap, base * 2**(n-1))]``.

    Args:
        base: the ceiling of the first delay, in seconds.
        cap: the largest ceiling (``SSTRACK_RETRY_MAX_DELAY``).
        rand: a uniform ``[0, 1)`` source, replaceable in tests.
    """

    def __init__(self, base: float = 0.1, cap: float = 30.0,
                 rand: Callable[[], float] = random.random) -> None:
        if base <= 0 or cap <= 0:
            raise ValueError("backoff base and cap must be positive")
        self.base = base
        self.cap = cap
        self._rand = rand

    def ceiling(self, attempt: int) -> float:
        """The largest delay retry ``attempt`` may wait."""
        # min() before the power would overflow for a long outage's attempt counts.
        exponent = min(max(attempt, 1) - 1, 64)
        return min(self.cap, self.base * 2.0 ** exponent)

    def delay(self, attempt: int) -> float:
        """A random delay for retry ``attempt`` (full jitter)."""
        return self._rand() * self.ceiling(attempt)


class CircuitBreaker:
    """Closed → (``threshold`` consecutive failures, or one trip) → open → half-open → ….

    Every failure also schedules the next attempt with :class:`Backoff`, so
    even a closed breaker spaces out retries. Time is passed in (monotonic
    seconds), which keeps the state machine free of clocks and threads.

    Args:
        backoff: the delays between attempts.
        threshold: consecutive failures that open the circuit.
    """

    def __init__(self, backoff: Backoff, threshold: int = 3) -> None:
        self.backoff = backoff
        self.threshold = threshold
        self.state = CLOSED
        self.failures = 0
        self.retry_at = 0.0
        self.opened = 0  # times the circuit opened, for stats

    def ready_at(self) -> float:
        """When the next attempt may be made (0 or past: now)."""
        return self.retry_at

    def allow(self, now: float) -> bool:
        """Whether an attempt may be made now; an open circuit turns half-open when due."""
        if now < self.retry_at:
            return False
        if self.state == OPEN:
            self.state = HALF_OPEN
        return True

    def success(self) -> None:
        """An attempt worked: close the circuit and forget the failures."""
        self.state = CLOSED
        self.failures = 0
        self.retry_at = 0.0

    def failure(self, now: float, *, trip: bool = False) -> float:
        """An attempt failed; ``trip`` opens the circuit at once. Returns the delay chosen."""
        self.failures += 1
        delay = self.backoff.delay(self.failures)
        self.retry_at = now + delay
        if trip or self.state == HALF_OPEN or self.failures >= self.threshold:
            if self.state != OPEN:
                self.opened += 1
            self.state = OPEN
        return delay
