"""Streaming content that counts its bytes and notes how it ended, for framework adapters.

Django's ``StreamingHttpResponse.streaming_content`` is replaced by one of
these; the adapter then knows, when the response is closed, how many bytes
went out and whether the stream ran to its end (``completed``), raised
(``error``) or was abandoned (a client that went away).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Protocol

from .capture import RequestRecord

__all__ = ["COMPLETED", "FAILED", "PENDING", "AsyncCounter", "Counter", "Tally"]

PENDING, COMPLETED, FAILED = 0, 1, 2


class Tally(Protocol):
    """Where a counter reports: the request's record and the stream's state."""

    record: RequestRecord
    stream: int | None


class Counter:
    """Sync streaming content, counted chunk by chunk, noting whether it ran to its end."""

    __slots__ = ("_chunks", "_tally")

    def __init__(self, chunks: Iterator[bytes], tally: Tally) -> None:
        self._chunks = iter(chunks)
        self._tally = tally

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        try:
            chunk = next(self._chunks)
        except StopIteration:
            self._tally.stream = COMPLETED
            raise
        except Exception:
            self._tally.stream = FAILED
            raise
        self._tally.record.response_bytes += len(chunk)
        return chunk


class AsyncCounter:
    """The same for async content; no ``__iter__``, so Django sees it as async."""

    __slots__ = ("_chunks", "_tally")

    def __init__(self, chunks: AsyncIterator[bytes], tally: Tally) -> None:
        self._chunks = chunks
        self._tally = tally

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        try:
            chunk = await self._chunks.__anext__()
        except StopAsyncIteration:
            self._tally.stream = COMPLETED
            raise
        except Exception:  # not CancelledError: a client that left leaves it pending
            self._tally.stream = FAILED
            raise
        self._tally.record.response_bytes += len(chunk)
        return chunk
