"""FollowRealtimeUpdates: apply every feed event to the cache, forever."""
from __future__ import annotations

import asyncio
import logging

from typing import Awaitable, Callable

from domain.model.realtime import FeedLost, RealtimeEvent
from ports.realtime_updates import RealtimeUpdates

#: What to do with one event: the sidecar's ApplyRealtimeUpdate.execute, or the
#: persistent cache service's KeepSharedCacheCurrent.execute.
EventHandler = Callable[[RealtimeEvent], Awaitable[None]]

log = logging.getLogger("sidecar.realtime")

#: Pause before re-opening the feed if its iterator itself failed (seconds).
RESTART_DELAY_S = 1.0


class FollowRealtimeUpdates:
    """Runs until cancelled. A failing event is logged and skipped; a failing feed is
    logged and restarted, so the task never dies silently (issue: real-time updates)."""

    def __init__(self, updates: RealtimeUpdates, handle: EventHandler) -> None:
        self._updates = updates
        self._handle = handle

    async def execute(self) -> None:
        while True:
            try:
                async for event in self._updates.events():
                    try:
                        await self._handle(event)
                    except Exception:  # noqa: BLE001 - one bad event must not stop the feed
                        log.exception("real-time event could not be applied",
                                      extra={"event": type(event).__name__})
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001
                log.exception("real-time feed failed; restarting")
            try:
                await self._handle(FeedLost("feed restarted"))
            except Exception:  # noqa: BLE001
                log.exception("real-time loss could not be applied")
            await asyncio.sleep(RESTART_DELAY_S)
