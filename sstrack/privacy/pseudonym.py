"""Pseudonymous user ids: the same user gets the same opaque id everywhere, always.

``HMAC-SHA256(key, "sstrack-user-id\\0" + user_id)``, as 32 lowercase hex
characters (128 bits: collision-free for any real user base, and as wide as
a UUID). With a configured key the id is stable across processes, hosts and
days, so journeys and retention still join up; without the key nobody can
go from the id back to the user or test a guess. Anyone holding the key
can do both, so keep it with the application's other secrets, and apart
from the salt secret.
"""

from __future__ import annotations

import hmac

__all__ = ["PSEUDONYM_HEX_CHARS", "pseudonymise"]

PSEUDONYM_HEX_CHARS = 32
"""Length of a pseudonym in hex characters (128 bits of the HMAC)."""

_MIN_KEY = 16
# A label unlike the daily-salt one, so a pseudonym can never equal a salt
# even if one secret were configured for both.
_LABEL = b"sstrack-user-id\x00"


def pseudonymise(user_id: str | None, key: bytes) -> str | None:
    """Replace a user id with its keyed pseudonym.

    Args:
        user_id: The application's user id; ``None`` or ``""`` means no user.
        key: The pseudonymisation secret, at least 16 bytes.

    Returns:
        32 lowercase hex characters, or ``None`` when there is no user id.

    Raises:
        ValueError: if ``key`` is shorter than 16 bytes (a configuration error).
    """
    if len(key) < _MIN_KEY:
        raise ValueError(f"the pseudonymisation key must be at least {_MIN_KEY} bytes")
    if not user_id:
        return None
    message = _LABEL + user_id.encode("utf-8", "surrogatepass")
    return hmac.digest(key, message, "sha256").hex()[:PSEUDONYM_HEX_CHARS]
