"""Delivery for every sink: the options, and flushing and stopping all lanes at once.

Each sink gets a :class:`~sstrack.lane.Lane` (its own queue and thread,
retries, circuit breaker, disk spool, dead letters) so a slow or failing
sink never delays the others. ``docs/delivery.md`` states the guarantees.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .deadletter import DeadLetters
from .lane import Lane
from .sinks.base import Sink
from .spool import Spool

if TYPE_CHECKING:
    from .config import Config

__all__ = ["DeliveryOptions", "describe", "flush_lanes", "stop_lanes"]


@dataclass(frozen=True)
class DeliveryOptions:
    """How lanes retry, spool and dead-letter (the ``SSTRACK_SPOOL_*`` options and friends)."""

    spool_dir: str | None = None
    spool_max_bytes: int = 1 << 30
    spool_fsync: str = "1000"
    dead_letter_dir: str = "./sstrack-dead-letter"
    retry_max_delay: float = 30.0
    ack_timeout: float = 2.0
    shutdown_timeout: float = 5.0

    @classmethod
    def from_config(cls, config: Config) -> DeliveryOptions:
        """The options as configured."""
        return cls(config.spool_dir, config.spool_max_bytes, config.spool_fsync,
                   config.dead_letter_dir, config.retry_max_delay,
                   shutdown_timeout=config.shutdown_timeout)

    def lane(self, sink: Sink, dead_letters: DeadLetters, capacity: int,
             drop_newest: bool = False) -> Lane:
        """A lane for ``sink`` with these options (its spool unopened, its thread unstarted)."""
        spool = (Spool(self.spool_dir, sink.name, max_bytes=self.spool_max_bytes,
                       fsync=self.spool_fsync) if self.spool_dir else None)
        return Lane(sink, capacity=capacity, drop_newest=drop_newest, spool=spool,
                    dead_letters=dead_letters, retry_max_delay=self.retry_max_delay,
                    ack_timeout=self.ack_timeout)


def flush_lanes(lanes: list[Lane], deadline: float) -> dict[str, int]:
    """Ask every lane to deliver or spool what it holds; what each still held at ``deadline``."""
    requests = [(lane, lane.request_flush(deadline)) for lane in lanes]
    pending = {}
    for lane, request in requests:
        if request.done.wait(max(deadline - time.monotonic(), 0.0)):
            count = request.pending
        else:  # the lane's thread is stuck in its sink
            count = lane.pending(request.target)
        if count:
            pending[lane.name] = count
    return pending


def stop_lanes(lanes: list[Lane], deadline: float) -> dict[str, int]:
    """Stop every lane by ``deadline``; what each dropped for shutdown or left in flight."""
    before = {id(lane): lane.dropped["shutdown"] for lane in lanes}
    for lane in lanes:
        lane.stop(deadline)
    for lane in lanes:
        lane.join(deadline - time.monotonic())
    lost = {}
    for lane in lanes:
        stuck = 0
        if not lane.join(0):  # stuck in its sink: spool or drop its queue from here
            lane.abandon()
            stuck = lane.pending()
        count = lane.dropped["shutdown"] - before[id(lane)] + stuck
        if count:
            lost[lane.name] = count
    return lost


def describe(counts: dict[str, int]) -> str:
    """``"sink a: 3, sink b: 10"``, for log lines."""
    return ", ".join(f"{name}: {count}" for name, count in counts.items())
