"""In-memory entitlement cache: an LRU bounded by estimated bytes, with trust generations.

reference: caching-and-redis.md §1 (ordering rule), §2 (LRU, single-flight, trust).
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Awaitable, Callable, Hashable

from adapters.outbound.entry_size import estimate_entry_bytes
from domain.model.entitlement import EntitlementSet, Usage
from domain.model.identifiers import CustomerKey
from domain.model.reports import UsageTarget
from domain.services.single_flight import SingleFlight
from ports.entitlement_cache import CachedEntry, EntitlementCache

log = logging.getLogger("sidecar.cache")


def newer_or_equal(stored_ms: int | None, incoming_ms: int) -> bool:
    """The ordering rule: write if nothing is stored, ``t == 0``, or ``s <= t`` (§1)."""
    return stored_ms is None or incoming_ms == 0 or stored_ms <= incoming_ms


@dataclass(slots=True)
class _Entry:
    entitlements: EntitlementSet
    generation: int
    size: int


def _keep_newer_usage(incoming: EntitlementSet, stored: EntitlementSet) -> EntitlementSet:
    """Each usage timestamp guards its own usage: keep stored usage that is newer."""
    features = []
    changed = False
    for entitlement in incoming.features:
        old = stored.feature(entitlement.feature.id)
        if old is not None and not newer_or_equal(
            old.usage.updated_at_ms, entitlement.usage.updated_at_ms
        ):
            entitlement = replace(entitlement, usage=old.usage)
            changed = True
        features.append(entitlement)
    credits = []
    for credit in incoming.credits:
        old_credit = stored.credit(credit.currency.currency_id)
        if old_credit is not None and not newer_or_equal(
            old_credit.usage.updated_at_ms, credit.usage.updated_at_ms
        ):
            credit = replace(credit, usage=old_credit.usage)
            changed = True
        credits.append(credit)
    if not changed:
        return incoming
    return replace(incoming, features=tuple(features), credits=tuple(credits))


class MemoryEntitlementCache(EntitlementCache):
    """``max_bytes`` bounds the estimated resident size (bytes) of all entries.

    An entry is trusted only while the real-time feed is live (``set_live(True)``) and
    the entry belongs to the current trust generation. Untrusted entries are kept as
    last-known-good.
    """

    in_process = True

    def __init__(self, max_bytes: int) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self._max_bytes = max_bytes
        self._entries: OrderedDict[CustomerKey, _Entry] = OrderedDict()
        self._bytes = 0
        self._generation = 0
        self._live = False
        self._flights: SingleFlight[EntitlementSet] = SingleFlight()
        self.evictions = 0

    # --- introspection (metrics) ---
    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def live(self) -> bool:
        return self._live

    # --- trust ---
    def set_live(self, live: bool) -> None:
        """Record the real-time feed's state; each change starts a new trust generation."""
        if live != self._live:
            self._live = live
            self._generation += 1

    async def drop_trust(self) -> None:
        self._generation += 1

    def fetch_token(self) -> Hashable:
        return self._generation

    # --- reads and writes ---
    async def get(self, key: CustomerKey) -> CachedEntry | None:
        return self.peek(key)

    def peek(self, key: CustomerKey) -> CachedEntry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        trusted = self._live and entry.generation == self._generation
        return CachedEntry(entry.entitlements, trusted)

    def holds_trusted(self, key: CustomerKey, entitlements: EntitlementSet) -> bool:
        """``peek`` without building a ``CachedEntry``: the response memo's test."""
        entry = self._entries.get(key)
        if (entry is None or entry.entitlements is not entitlements or not self._live
                or entry.generation != self._generation):
            return False
        self._entries.move_to_end(key)
        return True

    async def put(self, entitlements: EntitlementSet, token: Hashable) -> None:
        generation = token if isinstance(token, int) else -1
        self._write(entitlements, generation)

    async def apply_update(self, entitlements: EntitlementSet) -> None:
        """Write from the real-time feed: the entry joins the current generation."""
        self._write(entitlements, self._generation)

    def _write(self, entitlements: EntitlementSet, generation: int) -> None:
        key = entitlements.key
        stored = self._entries.get(key)
        if stored is not None:
            if not newer_or_equal(stored.entitlements.timestamp_ms, entitlements.timestamp_ms):
                return
            entitlements = _keep_newer_usage(entitlements, stored.entitlements)
        self._store(key, _Entry(entitlements, generation, estimate_entry_bytes(entitlements)))

    def _store(self, key: CustomerKey, entry: _Entry) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= old.size
        if entry.size > self._max_bytes:
            log.warning("entry larger than the cache bound; not cached",
                        extra={"customer_id": key.customer_id, "bytes": entry.size})
            return
        self._entries[key] = entry
        self._bytes += entry.size
        while self._bytes > self._max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= evicted.size
            self.evictions += 1

    async def set_usage(
        self, key: CustomerKey, target: UsageTarget, ref_id: str, usage: Usage
    ) -> None:
        entry = self._entries.get(key)
        if entry is None:
            return
        current = entry.entitlements
        if target is UsageTarget.FEATURE:
            old = current.feature(ref_id)
            updated = current.with_feature_usage(ref_id, usage) if old else None
        else:
            old = current.credit(ref_id)
            updated = current.with_credit_usage(ref_id, usage) if old else None
        if old is None or updated is None:
            return
        if not newer_or_equal(old.usage.updated_at_ms, usage.updated_at_ms):
            return
        entry.entitlements = updated

    async def purge(self, key: CustomerKey) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= old.size

    async def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0

    async def fetch_once(
        self, key: CustomerKey, fetch: Callable[[], Awaitable[EntitlementSet]]
    ) -> EntitlementSet:
        return await self._flights.run(key, fetch)
