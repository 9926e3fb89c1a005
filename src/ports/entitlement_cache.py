"""Entitlement cache port: in-memory or Redis, with trust, ordering and single-flight."""
from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Awaitable, Callable, Hashable, Protocol, runtime_checkable

from domain.model.entitlement import EntitlementSet, Usage
from domain.model.identifiers import CustomerKey
from domain.model.reports import UsageTarget


@dataclass(frozen=True, slots=True)
class CachedEntry:
    """A cached set; ``trusted`` means it may answer without an upstream call
    (caching-and-redis.md §2.3). Expiry is checked by the caller."""

    entitlements: EntitlementSet
    trusted: bool


@runtime_checkable
class EntitlementCache(Protocol):
    @abstractmethod
    async def get(self, key: CustomerKey) -> CachedEntry | None:
        """The entry for ``key`` or ``None``. Raises ``CacheUnavailableError``."""

    #: True when entries live in this process, so ``peek`` can answer (in-memory).
    in_process: bool = False

    def peek(self, key: CustomerKey) -> CachedEntry | None:
        """The entry for ``key`` if the cache holds it in this process and can answer
        without I/O (a read, as ``get``: it counts as a use for LRU); otherwise
        ``None``, also for caches that never can (Redis): they have no fast path.
        Never raises."""
        return None

    def holds_trusted(self, key: CustomerKey, entitlements: EntitlementSet) -> bool:
        """Whether ``entitlements`` (that very object) is the trusted entry of ``key``
        right now, answered without I/O; a yes counts as a use for LRU, as ``peek``.
        ``False`` for caches that cannot tell without I/O. Never raises."""
        entry = self.peek(key)
        return entry is not None and entry.trusted and entry.entitlements is entitlements

    @abstractmethod
    def fetch_token(self) -> Hashable:
        """An opaque token to take *before* a fetch starts and hand to ``put``, so a
        fetch that overlapped a trust change is written but not trusted."""

    @abstractmethod
    async def put(self, entitlements: EntitlementSet, token: Hashable) -> None:
        """Write a fetched set under the ordering rule (newer-or-equal timestamp wins)."""

    @abstractmethod
    async def apply_update(self, entitlements: EntitlementSet) -> None:
        """Write a set pushed by the real-time feed under the ordering rule; it belongs to
        the current trust generation (trusted while the feed stays live)."""

    @abstractmethod
    def set_live(self, live: bool) -> None:
        """Record whether the real-time feed is live; each change starts a new trust
        generation (caching-and-redis.md §2.3). Caches that are always trusted ignore it."""

    @abstractmethod
    async def set_usage(
        self, key: CustomerKey, target: UsageTarget, ref_id: str, usage: Usage
    ) -> None:
        """Set one entitlement's usage absolutely, only if the entry and the entitlement
        exist, under the ordering rule on the usage timestamp. Never changes trust."""

    @abstractmethod
    async def purge(self, key: CustomerKey) -> None:
        """Delete the entry; it is not kept as last-known-good."""

    @abstractmethod
    async def drop_trust(self) -> None:
        """Make every entry untrusted (kept as last-known-good)."""

    @abstractmethod
    async def fetch_once(
        self, key: CustomerKey, fetch: Callable[[], Awaitable[EntitlementSet]]
    ) -> EntitlementSet:
        """Run ``fetch`` once for all concurrent callers of the same key; all get its
        result or its exception."""
