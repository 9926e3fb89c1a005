"""Every Redis call bounded, counted and skipped after failures (caching-and-redis.md §3.8)."""
from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable, TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ports.clock import Clock
from ports.errors import CacheUnavailableError

log = logging.getLogger("sidecar.cache.redis")
T = TypeVar("T")

#: Seconds Redis is skipped after a connection error or a timeout (§3.8).
SKIP_AFTER_FAILURE_S = 1.0
_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, TimeoutError, OSError)


class RedisGuard:
    """Every Redis call: bounded by ``timeout_s``, counted on failure, skipped for
    ``skip_s`` seconds after a connection error or a timeout (§3.8).

    The timeout cancels the call; redis-py 8.x then disconnects the connection whose
    reply was not read (``read_response`` and ``send_packed_command`` close it on any
    ``BaseException``), so no later command can receive an earlier command's reply.

    ``on_unavailable`` runs (in the background) after a connection error or a timeout. The cache uses it to
    disconnect the pool's *idle* connections: redis-py 8.x skips its stale-connection
    check at checkout while maintenance notifications are on (the default, ``"auto"``),
    so after a Redis restart every pooled connection would otherwise fail once.
    """

    def __init__(
        self,
        clock: Clock,
        timeout_s: float,
        on_error: Callable[[], None],
        skip_s: float,
        on_unavailable: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._clock = clock
        self._timeout_s = timeout_s
        self._on_error = on_error
        self._skip_s = skip_s
        self._on_unavailable = on_unavailable
        self._reset: asyncio.Task[None] | None = None
        self._skip_until = float("-inf")

    async def run(self, what: str, command: Callable[[], Awaitable[T]]) -> T:
        if self._clock.monotonic() < self._skip_until:
            raise CacheUnavailableError(f"redis {what}: skipped after a recent failure")
        try:
            async with asyncio.timeout(self._timeout_s):
                return await command()
        except (RedisError, OSError, TimeoutError) as error:
            self.failed(error)
            detail = str(error) or f"no reply within {self._timeout_s} s"
            raise CacheUnavailableError(f"redis {what}: {type(error).__name__}: {detail}") from error

    def failed(self, error: BaseException, *, skip: bool = True) -> None:
        """Count ``error``. If it means Redis is unavailable, reset the idle connections
        in the background and, with ``skip``, open the skip window."""
        self._on_error()
        if not isinstance(error, _UNAVAILABLE):
            return
        if skip:
            self._skip_until = self._clock.monotonic() + self._skip_s
        if self._on_unavailable is not None and self._reset is None:
            self._reset = asyncio.get_running_loop().create_task(self._reset_idle())

    async def _reset_idle(self) -> None:
        assert self._on_unavailable is not None
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._on_unavailable()
        except (RedisError, OSError, TimeoutError) as error:
            log.debug("resetting idle Redis connections failed", extra={"error": str(error)})
        finally:
            self._reset = None

    async def aclose(self) -> None:
        if self._reset is not None:
            await asyncio.gather(self._reset, return_exceptions=True)
