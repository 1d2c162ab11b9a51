"""The contract between the background worker and the places events go."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

__all__ = ["Batch", "Failure", "ReportsFailures", "Sink"]


class Batch:
    """Events handed to every sink at once, in capture order.

    ``events`` are the event dicts; ``lines`` are the same events encoded
    once as compact JSON (no trailing newline), shared by all sinks so that
    fan-out does not pay for serialisation twice.
    """

    __slots__ = ("events", "lines")

    def __init__(self, events: Sequence[dict[str, Any]], lines: Sequence[bytes]) -> None:
        self.events = events
        self.lines = lines

    def __len__(self) -> int:
        return len(self.lines)


@runtime_checkable
class Sink(Protocol):
    """A destination for events.

    A sink is constructed at configuration time, where it validates its URL
    and fails fast; it must not open files, sockets or threads there. The
    worker calls :meth:`open` in the process that writes (so nothing crosses
    a fork), then :meth:`write` once per batch. ``write`` raises to report a
    failure; the dispatcher counts it and never lets it reach a request.
    """

    name: str
    """The sink's URL with any secret redacted; used in stats and logs."""

    def open(self) -> None:
        """Acquire files, clients or connections in the writing process."""

    def write(self, batch: Batch) -> None:
        """Deliver one batch (or raise)."""

    def flush(self, timeout: float) -> None:
        """Push anything buffered towards its destination within ``timeout`` seconds."""

    def close(self, timeout: float) -> None:
        """Flush and release resources; the sink is not used afterwards."""


class Failure(Protocol):
    """One event an asynchronous sink could not deliver (e.g. ``KafkaFailure``)."""

    @property
    def line(self) -> bytes:
        """The event as it was given to :meth:`Sink.write`."""

    @property
    def reason(self) -> str:
        """Why it failed, for logs and the dead-letter file."""

    @property
    def retriable(self) -> bool:
        """``False`` when sending it again cannot succeed (it is dead-lettered)."""


@runtime_checkable
class ReportsFailures(Protocol):
    """Optional: a sink whose :meth:`Sink.write` only queues, delivering in the background.

    The dispatcher then calls :meth:`Sink.flush` after each write to wait for
    the outcome: afterwards ``undelivered`` counts the events still held, and
    :meth:`take_failures` hands over those that failed. Every other event
    written is taken as delivered.
    """

    undelivered: int
    """Events written and still neither delivered nor failed, as of the last flush."""

    def take_failures(self) -> Sequence[Failure]:
        """The failed events recorded since the last call, oldest first."""
