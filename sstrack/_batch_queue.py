"""A lane's queue of batches, bounded in events and in bytes.

Not thread-safe: the lane calls it holding its condition. Batches are shared
by every lane, so a queue that keeps up costs nothing; one that falls behind
*compacts* what it queues beyond the first ``full_events`` events (see
:class:`Queued`), which keeps memory bounded by constants.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable

from ._lane_io import decode
from .sinks.base import Batch

__all__ = ["BatchQueue", "Queued"]


class Queued:
    """A queued batch; ``compact`` keeps only exact copies of its lines.

    An event dict costs several times its line, and orjson's output keeps its
    whole working buffer (4 KiB, or about 12 times the line: 16 KiB for an
    821-byte event). The lines are all a spool needs; events are decoded
    again to send.
    """

    __slots__ = ("attempts", "batch", "lines", "nbytes", "seq")

    def __init__(self, batch: Batch, attempts: int = 0, nbytes: int = -1,
                 compact: bool = False) -> None:
        self.batch: Batch | None = None if compact else batch
        self.lines = [bytes(memoryview(line)) for line in batch.lines] if compact else batch.lines
        self.attempts = attempts
        self.seq = 0
        self.nbytes = nbytes if nbytes >= 0 else sum(map(len, batch.lines))

    def __len__(self) -> int:
        return len(self.lines)

    def full(self) -> Batch:
        """The batch, its events decoded again from the lines if it was compacted."""
        if self.batch is None:
            self.batch = decode(self.lines)[0]
        return self.batch


class BatchQueue:
    """Batches in order, counted in ``events`` and encoded ``nbytes``.

    Args:
        capacity: events it may hold before :meth:`over` says so.
        max_bytes: encoded bytes it may hold before :meth:`over` says so.
        full_events: events kept whole; those queued behind them are compacted.
    """

    def __init__(self, capacity: int, max_bytes: int, full_events: int) -> None:
        self.capacity = capacity
        self.max_bytes = max_bytes
        self.full_events = full_events
        self.events = 0
        self.nbytes = 0
        self.seq = 0  # of the last batch queued, for flush targets
        self._items: collections.deque[Queued] = collections.deque()

    def __bool__(self) -> bool:
        return bool(self._items)

    def push(self, batch: Batch, nbytes: int = -1) -> None:
        """Queue a new batch at the end."""
        item = Queued(batch, nbytes=nbytes, compact=self.events >= self.full_events)
        self.seq += 1
        item.seq = self.seq
        self._items.append(item)
        self._count(item, 1)

    def push_front(self, items: Iterable[Queued]) -> None:
        """Put batches back at the head, in their order (for another attempt)."""
        items = list(items)
        self._items.extendleft(reversed(items))
        for item in items:
            self._count(item, 1)

    def over(self) -> bool:
        """Whether it holds more than ``capacity`` events or ``max_bytes`` bytes."""
        return self.events > self.capacity or self.nbytes > self.max_bytes

    def pop(self, newest: bool = False) -> Queued:
        """Remove the oldest (or newest) batch."""
        item = self._items.pop() if newest else self._items.popleft()
        self._count(item, -1)
        return item

    def take(self, max_events: int) -> list[Queued]:
        """The oldest batches, at least one, up to ``max_events`` events in all."""
        items: list[Queued] = []
        events = 0
        while self._items and (not items or events < max_events):
            items.append(self.pop())
            events += len(items[-1])
        return items

    def take_all(self) -> list[Queued]:
        """Every batch, oldest first, leaving the queue empty."""
        items = list(self._items)
        self._items.clear()
        self.events = self.nbytes = 0
        return items

    def events_through(self, target: int | None) -> int:
        """Events in batches queued up to sequence ``target`` (all with ``None``)."""
        if target is None:
            return self.events
        return sum(len(item) for item in self._items if item.seq <= target)

    def _count(self, item: Queued, sign: int) -> None:
        self.events += sign * len(item)
        self.nbytes += sign * item.nbytes
