"""FollowRealtimeUpdates: apply every feed event to the cache, forever."""
from __future__ import annotations

import asyncio
import logging

from domain.model.realtime import FeedLost
from domain.services.apply_realtime_update import ApplyRealtimeUpdate
from ports.realtime_updates import RealtimeUpdates

log = logging.getLogger("sidecar.realtime")

#: Pause before re-opening the feed if its iterator itself failed (seconds).
RESTART_DELAY_S = 1.0


class FollowRealtimeUpdates:
    """Runs until cancelled. A failing event is logged and skipped; a failing feed is
    logged and restarted, so the task never dies silently (issue: real-time updates)."""

    def __init__(self, updates: RealtimeUpdates, apply: ApplyRealtimeUpdate) -> None:
        self._updates = updates
        self._apply = apply

    async def execute(self) -> None:
        while True:
            try:
                async for event in self._updates.events():
                    try:
                        await self._apply.execute(event)
                    except Exception:  # noqa: BLE001 - one bad event must not stop the feed
                        log.exception("real-time event could not be applied",
                                      extra={"event": type(event).__name__})
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001
                log.exception("real-time feed failed; restarting")
            await self._apply.execute(FeedLost("feed restarted"))
            await asyncio.sleep(RESTART_DELAY_S)
