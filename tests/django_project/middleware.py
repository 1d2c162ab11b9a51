"""Test-only middleware placed around sstrack's, to reach Django's rarer paths."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from asgiref.sync import markcoroutinefunction

from ..apps import RELEASE_POLL, RELEASE_TIMEOUT, released

__all__ = ["HoldResponse", "SyncOnly"]


class HoldResponse:
    """Async middleware that, given ``?hold=<file>``, sits on the response until
    ``<file>.release`` exists (touching ``<file>``). A client that disconnects
    meanwhile leaves a response that sstrack hooked but Django never closes."""

    sync_capable = False
    async_capable = True

    def __init__(self, get_response: Callable[[Any], Awaitable[Any]]) -> None:
        self.get_response = get_response
        markcoroutinefunction(self)

    async def __call__(self, request: Any) -> Any:
        response = await self.get_response(request)
        hold = request.GET.get("hold")
        if hold:
            Path(hold).touch()
            deadline = time.monotonic() + RELEASE_TIMEOUT
            while not released(hold + ".release") and time.monotonic() < deadline:
                await asyncio.sleep(RELEASE_POLL)
        return response


class SyncOnly:
    """A sync-only middleware: below sstrack's, it puts sstrack in sync mode under ASGI."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        return self.get_response(request)
