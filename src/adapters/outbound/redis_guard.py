"""Every Redis call bounded, counted and skipped after failures (caching-and-redis.md §3.8)."""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any, Awaitable, Callable, TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ports.clock import Clock
from ports.errors import CacheUnavailableError

log = logging.getLogger("sidecar.cache.redis")
T = TypeVar("T")

#: Seconds Redis is skipped after a connection error or a timeout (§3.8).
SKIP_AFTER_FAILURE_S = 1.0
#: How often (s) the deadline watchdog looks at the commands in flight, at most; a
#: command is cancelled between ``timeout_s - tick`` and ``timeout_s`` after it started.
WATCHDOG_TICK_S = 0.05
_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, TimeoutError, OSError)


class RedisGuard:
    """Every Redis call: bounded by ``timeout_s``, counted on failure, skipped for
    ``skip_s`` seconds after a connection error or a timeout (§3.8).

    The timeout cancels the call; redis-py 8.x then disconnects the connection whose
    reply was not read (``read_response`` and ``send_packed_command`` close it on any
    ``BaseException``), so no later command can receive an earlier command's reply.

    The bound is kept by one watchdog timer for all commands in flight, not a timer per
    command: every command waits the same ``timeout_s``, so their deadlines come in the
    order they started, and the watchdog (every ``tick`` s while commands are in flight)
    cancels those past theirs. Measured (callgrind, one 16-key read): ``asyncio.timeout``
    per command cost ~40 k instructions, as much as a tenth of a whole Redis hit; the
    watchdog's bookkeeping a few. A command is cancelled between ``timeout_s - tick`` and
    ``timeout_s`` after it started (``tick`` = min(``WATCHDOG_TICK_S``, ``timeout_s`` / 4)),
    so it never waits longer than an ``asyncio.timeout(timeout_s)`` would.

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
        self._tick_s = min(WATCHDOG_TICK_S, timeout_s / 4)
        #: Commands in flight, oldest first: [task or None when finished, deadline (loop
        #: time), cancelled by the watchdog, the task's cancelling() count at the start].
        self._in_flight: deque[list[Any]] = deque()
        self._watchdog: asyncio.TimerHandle | None = None
        self._watchdog_loop: asyncio.AbstractEventLoop | None = None

    async def run(self, what: str, command: Callable[..., Awaitable[T]], *args: Any) -> T:
        """``await command(*args)`` within ``timeout_s``; Redis errors and the timeout
        become ``CacheUnavailableError`` (so does a skipped call)."""
        if self._clock.monotonic() < self._skip_until:
            raise CacheUnavailableError(f"redis {what}: skipped after a recent failure")
        task = asyncio.current_task()
        assert task is not None
        loop = task.get_loop()
        watch = [task, loop.time() + self._timeout_s - self._tick_s, False, task.cancelling()]
        self._in_flight.append(watch)
        if self._watchdog is None or self._watchdog_loop is not loop:
            self._watchdog_loop = loop
            self._watchdog = loop.call_at(loop.time() + self._tick_s, self._look)
        try:
            return await command(*args)
        except asyncio.CancelledError:
            # Ours (and nobody else's since the start): the command ran out of time.
            if not watch[2] or task.uncancel() > watch[3]:
                raise
            error: BaseException = TimeoutError()
        except (RedisError, OSError, TimeoutError) as failure:
            error = failure
        finally:
            watch[0] = None
        self.failed(error)
        detail = str(error) or f"no reply within {self._timeout_s} s"
        raise CacheUnavailableError(f"redis {what}: {type(error).__name__}: {detail}") from error

    def _look(self) -> None:
        """The watchdog: drop finished commands from the front, cancel those past their
        deadline, and look again in a tick while any are in flight."""
        self._watchdog = None
        in_flight = self._in_flight
        if not in_flight:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        while in_flight:
            watch = in_flight[0]
            if watch[0] is not None:
                if watch[1] > now:
                    break
                watch[2] = True
                watch[0].cancel()
            in_flight.popleft()
        if in_flight:
            self._watchdog = loop.call_at(now + self._tick_s, self._look)

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
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._reset is not None:
            await asyncio.gather(self._reset, return_exceptions=True)
