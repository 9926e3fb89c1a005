"""ApplyRealtimeUpdate: one feed event → its cache effect (upstream-api.md §9.3,
caching-and-redis.md §2.4)."""
from __future__ import annotations

import logging

from domain.model.realtime import (
    EntitlementsUpdated,
    FeedLive,
    FeedLost,
    PackagePublished,
    RealtimeEvent,
    UsageUpdated,
)
from ports.entitlement_cache import EntitlementCache

log = logging.getLogger("sidecar.realtime")


class ApplyRealtimeUpdate:
    def __init__(self, cache: EntitlementCache) -> None:
        self._cache = cache

    async def execute(self, event: RealtimeEvent) -> None:
        cache = self._cache
        if isinstance(event, EntitlementsUpdated):
            if event.purge:
                await cache.purge(event.entitlements.key)
            else:
                await cache.apply_update(event.entitlements)
        elif isinstance(event, UsageUpdated):
            await cache.set_usage(event.key, event.target, event.ref_id, event.usage)
        elif isinstance(event, PackagePublished):
            if event.all_customers:
                log.info("package published to all customers: cached entries untrusted")
                await cache.drop_trust()
        elif isinstance(event, FeedLive):
            cache.set_live(True)
        elif isinstance(event, FeedLost):
            cache.set_live(False)

