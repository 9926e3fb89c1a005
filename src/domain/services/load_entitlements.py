"""Loading a customer's set: trusted cache, else one shared fetch, else last-known-good."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from enum import Enum
from typing import Callable

from domain.model.budget import Budget
from domain.model.entitlement import EntitlementSet
from domain.model.freshness import Freshness
from domain.model.identifiers import CustomerKey
from domain.services.single_flight import SingleFlight
from ports.clock import Clock
from ports.entitlement_cache import CachedEntry, EntitlementCache
from ports.entitlement_source import EntitlementSource
from ports.errors import (
    CacheUnavailableError,
    SourceOfflineError,
    UpstreamAuthError,
    UpstreamError,
)
from ports.telemetry import Telemetry

log = logging.getLogger("sidecar.load")

#: Whether an entry is expired for the answer at hand, given ``now_ms``.
ExpiryCheck = Callable[[EntitlementSet, int], bool]


def any_expired(entitlements: EntitlementSet, now_ms: int) -> bool:
    """Bulk reads: any expired entitlement makes the entry unusable (§6)."""
    return entitlements.any_expired(now_ms)


class Source(Enum):
    CACHE = "cache"
    LIVE = "live"
    LAST_KNOWN_GOOD = "last_known_good"


#: Not frozen: one is made per read and never outlives the call, and a frozen dataclass
#: costs ~0.5 µs more to build (docs/performance.md, "Redis hit").
@dataclass(slots=True)
class Loaded:
    entitlements: EntitlementSet
    source: Source


class LoadEntitlements:
    """The read algorithm of caching-and-redis.md §2.3 (and §3.8 when the cache is down)."""

    def __init__(
        self,
        cache: EntitlementCache,
        source: EntitlementSource,
        clock: Clock,
        telemetry: Telemetry,
    ) -> None:
        self._cache = cache
        self._source = source
        self._clock = clock
        self._telemetry = telemetry
        #: Concurrent misses read live while the cache is unavailable (``_fetch``).
        self._uncached: SingleFlight[EntitlementSet] = SingleFlight()

    async def execute(
        self,
        key: CustomerKey,
        budget: Budget,
        expired: ExpiryCheck = any_expired,
        fetch_budget: Budget | None = None,
    ) -> Loaded | None:
        """The set for ``key``, or ``None`` when nothing usable can be had in ``budget``.

        ``budget`` is this caller's (its deadline included); ``fetch_budget`` is the
        configured budget of the shared upstream fetch (default: ``budget``). The fetch is
        shared by concurrent callers, so one caller's short deadline must not cut it short
        for the others: each caller stops *waiting* at its own deadline while the fetch
        goes on and fills the cache. ``expired`` decides whether a cached entry is too old
        to answer with (single lookups check one entitlement, bulk lookups all). Never
        raises for upstream or cache failures; those are logged and counted.
        """
        now_ms = self._clock.now_ms()
        entry: CachedEntry | None = None
        cache_up = True
        try:
            entry = await self._cache.get(key)
        except CacheUnavailableError as error:
            cache_up = False
            log.warning("cache unavailable, reading live", extra={"error": str(error)})
        if entry is not None and entry.trusted and not expired(entry.entitlements, now_ms):
            self._telemetry.cache_hit()
            return Loaded(entry.entitlements, Source.CACHE)
        self._telemetry.cache_miss()
        remaining = budget.remaining(self._clock.monotonic())
        where = {"customer_id": key.customer_id, "resource_id": key.resource_id}
        if remaining <= 0:
            log.info("caller deadline already reached; no fetch started", extra=where)
            return self._last_known_good(entry, expired)
        try:
            # A timeout scope, not wait_for: no task of its own (one task fewer per miss);
            # the shared fetch runs shielded behind single flight (the cache's fetch_once, or
            # ``_uncached``), so only this caller stops waiting.
            async with asyncio.timeout(remaining) as scope:
                fetched = await self._fetch(key, fetch_budget or budget, write=cache_up)
        except TimeoutError as error:
            if not scope.expired():  # raised inside the fetch: a failure, not our deadline
                return self._failed(error, entry, expired, where)
            log.info("caller deadline reached before the fetch finished", extra=where)
            return self._last_known_good(entry, expired)
        except UpstreamError as error:
            return self._failed(error, entry, expired, where)
        return Loaded(fetched, Source.LIVE)

    def _failed(self, error: Exception, entry: CachedEntry | None, expired: ExpiryCheck,
                where: dict[str, str | None]) -> Loaded | None:
        """A failed fetch: counted and logged (unless the source is offline by
        configuration), then answered from the last known good entry, if any."""
        if not isinstance(error, SourceOfflineError):
            self._telemetry.upstream_error(auth=isinstance(error, UpstreamAuthError))
            log.warning("entitlement fetch failed",
                        extra={**where, "error": f"{type(error).__name__}: {error}"})
        return self._last_known_good(entry, expired)

    @property
    def peekable(self) -> bool:
        """Whether ``still_current`` can ever say yes (the cache holds entries in this
        process and answers ``holds_trusted`` without I/O)."""
        return self._cache.in_process

    def still_current(self, freshness: Freshness) -> bool:
        """Whether an answer with this ``freshness`` may be given again now, *before* any
        read, without I/O: the time is before its bound and its set is still the trusted
        entry (``EntitlementCache.holds_trusted``). A yes counts as a cache hit, as the
        read it stands for."""
        if (self._clock.now_ms() >= freshness.until_ms
                or not self._cache.holds_trusted(freshness.key, freshness.entitlements())):
            return False
        self._telemetry.cache_hit()
        return True

    def _last_known_good(self, entry: CachedEntry | None, expired: ExpiryCheck) -> Loaded | None:
        """The untrusted entry, if it is still usable; expired data never answers (§6)."""
        if entry is not None and not expired(entry.entitlements, self._clock.now_ms()):
            self._telemetry.last_known_good()
            return Loaded(entry.entitlements, Source.LAST_KNOWN_GOOD)
        return None

    async def _fetch(self, key: CustomerKey, budget: Budget, *, write: bool) -> EntitlementSet:
        token = self._cache.fetch_token()

        async def fetch_and_store() -> EntitlementSet:
            fetched = await self._source.fetch(key, consistent=False, budget=budget)
            if write:
                await self._store(fetched, token)
            return fetched

        if not write:
            # The cache is unavailable (Redis down): its single flight is out of reach,
            # so concurrent misses for ``key`` share one fetch of this process instead.
            return await self._uncached.run(
                key, lambda: self._source.fetch(key, consistent=False, budget=budget))
        return await self._cache.fetch_once(key, fetch_and_store)

    async def _store(self, fetched: EntitlementSet, token: object) -> None:
        try:
            await self._cache.put(fetched, token)
        except CacheUnavailableError as error:
            log.warning("cache write failed", extra={"error": str(error)})
