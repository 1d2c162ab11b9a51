"""Events to compact JSON, once per event, shared by every sink (``Batch.lines``)."""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["encode"]


def _default(value: object) -> str:
    return str(value)[:1024]


def _replace_surrogates(value: Any, depth: int = 0) -> Any:
    """Make a value encodable when a lone surrogate made orjson refuse it."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if depth > 16:
        return None
    if isinstance(value, dict):
        return {_replace_surrogates(str(k)): _replace_surrogates(v, depth + 1)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_replace_surrogates(v, depth + 1) for v in value]
    return value


def encode(event: dict[str, Any]) -> bytes:
    """Compact JSON for one event; never fails on odd strings or objects."""
    try:
        return orjson.dumps(event, default=_default)
    except orjson.JSONEncodeError:
        return orjson.dumps(_replace_surrogates(event), default=_default)
