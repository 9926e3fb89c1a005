"""Port of the persistent cache service's "nothing stale after a gap" step."""
from __future__ import annotations

from abc import abstractmethod
from typing import Protocol, runtime_checkable


@runtime_checkable
class SharedCacheInvalidator(Protocol):
    @abstractmethod
    async def invalidate_all(self) -> int:
        """Make every cached entry of this environment a miss; returns how many keys went.

        Raises ``CacheUnavailableError`` when the cache cannot be reached.
        """
