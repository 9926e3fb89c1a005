"""An in-memory RealtimeUpdates: a feed the test fills through an ``asyncio.Queue``."""
from __future__ import annotations

import asyncio
from typing import AsyncIterator

from domain.model.realtime import FeedLive, FeedLost, RealtimeEvent
from ports.realtime_updates import RealtimeUpdates


class FakeRealtimeUpdates(RealtimeUpdates):
    """Yields whatever the test puts in, in order, until the iteration is cancelled.

    - It starts live (``FeedLive`` first) unless ``live=False``; ``go_live()`` adds one.
    - ``push(event)`` delivers an update (``EntitlementsUpdated``, ``UsageUpdated``, …).
    - ``lose(reason)`` delivers ``FeedLost`` and, as the real feed reconnects by itself,
      ``FeedLive`` right after (``reconnect=False`` leaves it lost).
    - ``iterations`` counts calls of ``events()``.
    """

    def __init__(self, *, live: bool = True) -> None:
        self._queue: asyncio.Queue[RealtimeEvent] = asyncio.Queue()
        self.iterations = 0
        if live:
            self.go_live()

    def go_live(self) -> None:
        self._queue.put_nowait(FeedLive())

    def push(self, event: RealtimeEvent) -> None:
        self._queue.put_nowait(event)

    def lose(self, reason: str = "connection lost (fake)", *, reconnect: bool = True) -> None:
        self._queue.put_nowait(FeedLost(reason))
        if reconnect:
            self.go_live()

    async def events(self) -> AsyncIterator[RealtimeEvent]:
        self.iterations += 1
        while True:
            yield await self._queue.get()
