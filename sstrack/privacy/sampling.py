"""Consistent sampling: a visitor is kept or dropped as a whole, never event by event.

The decision is a pure function of the visitor id: its BLAKE2b hash, read as
a number in [0, 1), is compared with the rate. Every process and every host
agree without coordination, a kept visitor's whole journey is kept, and
raising the rate only adds visitors (one kept at 10% is kept at 20%).
"""

from __future__ import annotations

import hashlib
import math

__all__ = ["keep_visitor", "validate_sample_rate"]

_SCALE = 2.0**-64


def validate_sample_rate(rate: float) -> float:
    """Return ``rate`` as a float if it is a number from 0 to 1.

    Raises:
        ValueError: for anything else (including NaN and booleans).
    """
    if isinstance(rate, bool) or not isinstance(rate, (int, float)):
        raise ValueError(f"sample rate must be a number from 0 to 1, not {rate!r}")
    value = float(rate)
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"sample rate must be from 0 to 1, not {rate!r}")
    return value


def keep_visitor(visitor_id: str, rate: float) -> bool:
    """Whether the visitor falls in the sample.

    Args:
        visitor_id: The cookie or cookieless visitor id. Cookieless ids change
            daily, so such visitors are sampled afresh each day.
        rate: The fraction of visitors kept, from 0 (none) to 1 (all).

    Raises:
        ValueError: if ``rate`` is not from 0 to 1.
    """
    if rate >= 1.0 or rate <= 0.0 or rate != rate:
        validate_sample_rate(rate)
        return rate >= 1.0
    digest = hashlib.blake2b(visitor_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") * _SCALE < rate
