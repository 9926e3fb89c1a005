"""The persistent cache service's handling of feed events (caching-and-redis.md §4).

Design of "nothing stale after a gap" (our choice, documented in docs/persistent-cache.md):
whenever the feed stops being live, whenever it becomes live again, and on a package
published to all customers, every entry under the prefix is deleted. Sidecars then miss,
and refetch through their cross-process single-flight. Deleting on *loss* bounds the
window in which a sidecar can serve data that missed an update to the time the service
needs to notice the loss (the keep-alive timeout); deleting again on *live* removes
anything a sidecar fetched during the gap, which could itself have missed an update.
"""
from __future__ import annotations

import logging
from enum import Enum

from domain.model.realtime import (
    EntitlementsUpdated,
    FeedLive,
    FeedLost,
    PackagePublished,
    RealtimeEvent,
)
from domain.services.apply_realtime_update import ApplyRealtimeUpdate
from ports.entitlement_cache import EntitlementCache
from ports.errors import CacheUnavailableError
from ports.shared_cache import SharedCacheInvalidator

log = logging.getLogger("persistent_cache")


class UpdatePolicy(Enum):
    """How an ``entitlementsUpdatedV2`` for an entry not in Redis is treated."""

    UPSERT = "upsert"
    UPDATE_IF_EXISTS = "update-if-exists"


class InvalidateSharedCache:
    """Deletes every entry; remembers a failed attempt so it is retried until it succeeds."""

    def __init__(self, invalidator: SharedCacheInvalidator) -> None:
        self._invalidator = invalidator
        self.pending = False
        self.invalidations = 0

    async def execute(self, *, retry_only: bool = False) -> bool:
        """Invalidate now (or, with ``retry_only``, only if an earlier attempt failed).
        ``True`` when nothing is pending afterwards."""
        if retry_only and not self.pending:
            return True
        self.pending = True
        try:
            removed = await self._invalidator.invalidate_all()
        except CacheUnavailableError as error:
            log.warning("invalidation failed; will retry", extra={"error": str(error)})
            return False
        self.pending = False
        self.invalidations += 1
        log.info("shared cache invalidated", extra={"keys_removed": removed})
        return True


class KeepSharedCacheCurrent:
    def __init__(
        self,
        cache: EntitlementCache,
        apply: ApplyRealtimeUpdate,
        invalidate: InvalidateSharedCache,
        policy: UpdatePolicy = UpdatePolicy.UPSERT,
    ) -> None:
        self._cache = cache
        self._apply = apply
        self._invalidate = invalidate
        self._policy = policy

    async def execute(self, event: RealtimeEvent) -> None:
        """Raises ``CacheUnavailableError`` for a write that could not land (counted by the
        caller); invalidations never raise (they are retried instead)."""
        if isinstance(event, (FeedLive, FeedLost)):
            await self._invalidate.execute()
            return
        if isinstance(event, PackagePublished):
            if event.all_customers:
                await self._invalidate.execute()
            return
        if (
            isinstance(event, EntitlementsUpdated)
            and not event.purge
            and self._policy is UpdatePolicy.UPDATE_IF_EXISTS
            and await self._cache.get(event.entitlements.key) is None
        ):
            return
        await self._apply.execute(event)
