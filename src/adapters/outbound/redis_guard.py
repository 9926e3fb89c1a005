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
#: command is cancelled between ``timeout_s`` and ``timeout_s + tick`` after it started.
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
    watchdog's bookkeeping a few. A command gets its whole ``timeout_s`` and is cancelled
    at most one tick later (``tick`` = min(``WATCHDOG_TICK_S``, ``timeout_s`` / 4): ≤ 50 ms
    on the 1 s bound), as a timer of ``asyncio.timeout`` fires late on a busy loop. The
    cancellation is taken back (``uncancel``) however the command ends, as
    ``asyncio.timeout`` does, and the caller's own cancellation stays a cancellation.

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
        if self._watchdog_loop is not loop:
            # A new event loop (tests, tools): what was in flight on the old one can
            # never be cancelled from here; start afresh on this one.
            self._in_flight.clear()
            self._watchdog, self._watchdog_loop = None, loop
        watch = [task, loop.time() + self._timeout_s, False, task.cancelling()]
        self._in_flight.append(watch)
        if self._watchdog is None:
            self._watchdog = loop.call_at(loop.time() + self._tick_s, self._look)
        timed_out = False
        try:
            try:
                return await command(*args)
            finally:
                watch[0] = None
                if watch[2]:  # the watchdog cancelled us: take it back, whatever the exit
                    timed_out = task.uncancel() <= watch[3]
        except asyncio.CancelledError:
            if not timed_out:  # the caller's own cancellation (too)
                raise
            error: BaseException = TimeoutError()
        except (RedisError, OSError, TimeoutError) as failure:
            error = failure
        self.failed(error)
        detail = str(error) or f"no reply within {self._timeout_s} s"
        raise CacheUnavailableError(f"redis {what}: {type(error).__name__}: {detail}") from error

    def _look(self) -> None:
        """The watchdog: drop finished commands from the front, cancel those past their
        deadline, and look again in a tick while any are in flight."""
        self._watchdog = None
        in_flight = self._in_flight
        try:
            now = asyncio.get_running_loop().time()
            while in_flight:
                watch = in_flight[0]
                task = watch[0]
                if task is not None and not task.done():
                    if watch[1] > now:
                        break
                    watch[2] = True
                    task.cancel()
                in_flight.popleft()
        except Exception:  # noqa: BLE001 - never let the watchdog stop for good
            log.exception("Redis command watchdog failed; it looks again in a tick")
            if in_flight:
                in_flight.popleft()
        finally:
            if in_flight and self._watchdog_loop is not None and not self._watchdog_loop.is_closed():
                self._watchdog = self._watchdog_loop.call_at(
                    self._watchdog_loop.time() + self._tick_s, self._look)

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
        """Wait for the background reset. Commands still in flight keep their bound: the
        watchdog stops by itself once none are left."""
        if self._reset is not None:
            await asyncio.gather(self._reset, return_exceptions=True)
