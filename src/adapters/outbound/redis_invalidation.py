"""Deleting every entry of one environment prefix (SCAN + UNLINK in batches).

reference: caching-and-redis.md §4 ("deleting every entry under the prefix") and §3.10
(at most 1000 keys per UNLINK). Lock keys (``P-…``, ``P:refetch…``) are left alone.
"""
from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ports.errors import CacheUnavailableError
from ports.shared_cache import SharedCacheInvalidator

#: Keys per SCAN page and per UNLINK.
BATCH = 1000


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


class RedisSharedCacheInvalidator(SharedCacheInvalidator):
    """``timeout_s`` bounds each Redis command (seconds)."""

    def __init__(self, client: aioredis.Redis, prefix: str, timeout_s: float = 5.0) -> None:
        self._client = client
        self._pattern = f"{_glob_escape(prefix)}:c_*"
        self._timeout_s = timeout_s

    async def invalidate_all(self) -> int:
        removed = 0
        cursor: int | str = 0
        try:
            while True:
                async with asyncio.timeout(self._timeout_s):
                    cursor, keys = await self._client.scan(cursor, match=self._pattern, count=BATCH)
                    if keys:
                        removed += await self._client.unlink(*keys)
                if int(cursor) == 0:
                    return removed
        except (RedisError, OSError, TimeoutError) as error:
            raise CacheUnavailableError(f"invalidation failed: {type(error).__name__}: {error}") from error
