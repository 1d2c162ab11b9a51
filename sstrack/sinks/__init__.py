"""Where events go, chosen by URL (``SSTRACK_SINKS``).

=================  =====================================================
``jsonl:<dir>``    hourly JSON-lines files under ``<dir>`` (the default)
``stdout:``        one JSON line per event on standard output
``memory:[name]``  an in-process list, for tests
``kafka://…``      a Kafka topic (``kafka://host:9092,host2:9092/topic``)
=================  =====================================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from .base import Batch, Sink
from .urls import redact

__all__ = ["SCHEMES", "Batch", "Sink", "build_sink", "redact"]


def _jsonl(rest: str, environ: Mapping[str, str]) -> Sink:
    from .jsonl import JsonlSink

    return JsonlSink(rest)


def _stdout(rest: str, environ: Mapping[str, str]) -> Sink:
    from .stdout import StdoutSink

    if rest:
        raise ValueError("stdout: takes no argument")
    return StdoutSink()


def _memory(rest: str, environ: Mapping[str, str]) -> Sink:
    from .memory import MemorySink

    return MemorySink(rest)


def _kafka(rest: str, environ: Mapping[str, str]) -> Sink:
    from .kafka import KafkaSink

    return KafkaSink("kafka:" + rest, environ)


SCHEMES: dict[str, Callable[[str, Mapping[str, str]], Sink]] = {
    "jsonl": _jsonl,
    "stdout": _stdout,
    "memory": _memory,
    "kafka": _kafka,
}


def build_sink(url: str, environ: Mapping[str, str]) -> Sink:
    """Construct (and so validate) the sink a URL names; opens nothing.

    Raises:
        ValueError: for an unknown scheme or an invalid target, with the fix.
    """
    scheme, colon, rest = url.partition(":")
    if not colon or scheme not in SCHEMES:
        known = ", ".join(f"{name}:" for name in SCHEMES)
        raise ValueError(f"{redact(url)!r} has an unknown scheme; use one of {known} "
                         "(for example jsonl:./sstrack-events)")
    return SCHEMES[scheme](rest, environ)
