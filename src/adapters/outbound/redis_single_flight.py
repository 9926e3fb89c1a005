"""Cross-process single-flight: one sidecar fetches a missing entry, the others wait.

reference: caching-and-redis.md §3.7. Per flight (the caller has already coalesced
in-process callers of the same key):
1. SUBSCRIBE to ``P:refetchEntityEntitlementsAfterCacheMiss:C[:R]`` and wait for the
   server's confirmation, so that no notification can be missed;
2. ``SET P:refetchEntityEntitlementsAfterCacheMiss-C[:R] <token> NX PX <budget + 1000>``;
3. the winner unsubscribes, fetches (the fetch writes the entry), releases the lock by
   compare-and-delete, then PUBLISHes ``{}`` or ``{"error": "<message>"}``;
4. a loser waits up to the remaining budget: ``{}`` → read again (still a miss → fetch
   itself); ``{"error"}`` → ``UpstreamUnavailableError`` (the caller falls back); no
   message → fetch itself.

The winner releases *before* publishing (our choice): a loser's ``SET NX`` failed while
the lock was held, so it was subscribed before the release and therefore before the
notification; a process arriving after the release takes the lock itself. Publishing
first would leave a window in which a newcomer finds the lock held after the
notification and waits out its whole budget.

All flights of one process share **one dedicated pub/sub connection** taken from the
client's pool and a reader task that routes messages by channel, so that many
concurrent misses cost one connection, not one each. If Redis cannot coordinate (down,
skip window), the flight fetches without coordination.
"""
from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections import deque
from typing import Any, Awaitable, Callable, Protocol, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from adapters.outbound.redis_keys import RedisKeys
from adapters.outbound.redis_scripts import RedisScripts
from domain.model.entitlement import EntitlementSet
from domain.model.identifiers import CustomerKey
from ports.clock import Clock
from ports.errors import CacheUnavailableError, UpstreamUnavailableError

log = logging.getLogger("sidecar.cache.redis")
T = TypeVar("T")

#: Seconds between liveness checks of an idle pub/sub connection.
POLL_S = 5.0
_LOST = object()


class Guard(Protocol):
    """Bounded Redis calls (see ``redis_guard.RedisGuard``)."""

    async def run(self, what: str, command: Callable[[], Awaitable[T]]) -> T:
        """Run ``command`` within the command timeout; ``CacheUnavailableError`` on failure."""

    def failed(self, error: BaseException, *, skip: bool = True) -> None:
        """Record a failure seen outside ``run``: counted, idle connections reset if Redis
        looks unavailable, and with ``skip`` the skip window opened."""


def _as_bytes(value: Any) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


class Subscription:
    """One flight's subscription; ``wait`` returns the notification or ``None``."""

    def __init__(self, listener: ChannelListener, name: bytes, inbox: asyncio.Future[Any]):
        self._listener = listener
        self._name = name
        self._inbox = inbox
        self._closed = False

    async def wait(self, timeout_s: float) -> bytes | None:
        """The message data, or ``None`` on timeout or when the connection was lost."""
        try:
            data = await asyncio.wait_for(asyncio.shield(self._inbox), max(0.0, timeout_s))
        except TimeoutError:
            return None
        return None if data is _LOST else data

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._listener.unsubscribe(self._name, self._inbox)


class ChannelListener:
    """The process's dedicated pub/sub connection and its reader task (RESP2 replies)."""

    def __init__(self, client: aioredis.Redis, guard: Guard) -> None:
        self._pool = client.connection_pool
        self._guard = guard
        self._conn: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._confirmations: dict[bytes, deque[asyncio.Future[bool]]] = {}
        self._inboxes: dict[bytes, asyncio.Future[Any]] = {}
        self._lock = asyncio.Lock()

    async def subscribe(self, channel: str) -> Subscription:
        """Subscribed once this returns (the server confirmed). ``CacheUnavailableError``."""
        name = channel.encode()
        loop = asyncio.get_running_loop()
        confirmed: asyncio.Future[bool] = loop.create_future()
        inbox: asyncio.Future[Any] = loop.create_future()
        async with self._lock:
            conn = await self._guard.run("subscribe", self._connection)
            self._confirmations.setdefault(name, deque()).append(confirmed)
            self._inboxes[name] = inbox
            try:
                await self._guard.run(
                    "subscribe", lambda: conn.send_command("SUBSCRIBE", name, check_health=False)
                )
            except BaseException:
                self._drop(conn)
                raise
        try:
            ok = await self._guard.run("subscribe", lambda: asyncio.shield(confirmed))
        except BaseException:
            self._drop(conn)
            raise
        if not ok:
            error = RedisConnectionError("pub/sub connection lost before the subscription")
            self._guard.failed(error, skip=False)
            raise CacheUnavailableError(str(error))
        return Subscription(self, name, inbox)

    async def unsubscribe(self, name: bytes, inbox: asyncio.Future[Any]) -> None:
        if self._inboxes.get(name) is inbox:
            del self._inboxes[name]
        conn = self._conn
        if conn is None:
            return
        try:
            await self._guard.run(
                "unsubscribe", lambda: conn.send_command("UNSUBSCRIBE", name, check_health=False)
            )
        except CacheUnavailableError:
            self._drop(conn)

    async def _connection(self) -> Any:
        if self._conn is None:
            conn = await self._pool.get_connection()
            self._conn = conn
            self._reader = asyncio.create_task(self._read(conn), name="redis-single-flight-reader")
        return self._conn

    async def _read(self, conn: Any) -> None:
        awaiting_pong = False
        try:
            while True:
                response = await conn.read_response(
                    timeout=POLL_S, disconnect_on_error=False, push_request=True
                )
                if response is None:  # idle: probe the connection, give up after a silent poll
                    if awaiting_pong:
                        raise RedisConnectionError("pub/sub connection unresponsive")
                    await conn.send_command("PING", check_health=False)
                    awaiting_pong = True
                    continue
                awaiting_pong = False
                self._dispatch(response)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.warning("single-flight pub/sub connection lost",
                        extra={"error": f"{type(error).__name__}: {error}"})
            self._guard.failed(error, skip=False)  # commands find out for themselves
        finally:
            self._forget(conn)
            await conn.disconnect(nowait=True)
            await self._pool.release(conn)

    def _dispatch(self, response: Any) -> None:
        if not isinstance(response, list) or len(response) < 3:
            return  # PONG outside subscribe mode
        kind, name = _as_bytes(response[0]), _as_bytes(response[1])
        if kind == b"subscribe":
            queue = self._confirmations.get(name)
            if queue:
                future = queue.popleft()
                if not future.done():
                    future.set_result(True)
                if not queue:
                    del self._confirmations[name]
        elif kind == b"message":
            inbox = self._inboxes.get(name)
            if inbox is not None and not inbox.done():
                inbox.set_result(_as_bytes(response[2]))

    def _forget(self, conn: Any) -> None:
        """Reset the state of ``conn``: pending subscriptions fail, waiters stop waiting."""
        if self._conn is not conn:
            return
        self._conn = None
        self._reader = None
        for queue in self._confirmations.values():
            for future in queue:
                if not future.done():
                    future.set_result(False)
        self._confirmations.clear()
        for inbox in self._inboxes.values():
            if not inbox.done():
                inbox.set_result(_LOST)
        self._inboxes.clear()

    def _drop(self, conn: Any) -> None:
        """Abandon a connection that failed a command; its reader closes it."""
        if self._conn is conn and self._reader is not None:
            self._reader.cancel()
            self._closing.add(self._reader)
            self._reader.add_done_callback(self._closing.discard)
        self._forget(conn)

    async def aclose(self) -> None:
        """Stop the reader; the connection goes back to the pool, disconnected."""
        readers = {*self._closing, *([self._reader] if self._reader is not None else [])}
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)


def _error_of(data: bytes) -> str | None:
    """The ``error`` text of a notification, or ``None`` for ``{}`` (or anything else)."""
    try:
        message = json.loads(data)
    except ValueError:
        return None
    if isinstance(message, dict) and "error" in message:
        return str(message["error"])
    return None


class RedisSingleFlight:
    """``budget_s``: the fetch budget (``ENTITLEMENTS_TIMEOUT_MS`` / 1000), seconds; the
    lock lives ``budget + 1`` s and losers wait at most ``budget``."""

    def __init__(
        self,
        client: aioredis.Redis,
        keys: RedisKeys,
        scripts: RedisScripts,
        guard: Guard,
        clock: Clock,
        budget_s: float,
    ) -> None:
        if budget_s <= 0:
            raise ValueError("the single-flight budget must be positive")
        self._client = client
        self._keys = keys
        self._scripts = scripts
        self._guard = guard
        self._clock = clock
        self._budget_s = budget_s
        self._listener = ChannelListener(client, guard)

    async def run(
        self,
        key: CustomerKey,
        fetch: Callable[[], Awaitable[EntitlementSet]],
        read: Callable[[], Awaitable[EntitlementSet | None]],
    ) -> EntitlementSet:
        """``fetch`` fetches *and writes*; ``read`` is the cache read (``None`` = miss)."""
        deadline = self._clock.monotonic() + self._budget_s
        try:
            subscription = await self._listener.subscribe(self._keys.channel(key))
        except CacheUnavailableError as error:
            log.info("single-flight unavailable; fetching without coordination",
                     extra={"customer_id": key.customer_id, "error": str(error)})
            return await fetch()
        lock, token = self._keys.lock(key), secrets.token_hex(16)
        ttl_ms = int(self._budget_s * 1000) + 1000
        try:
            won = await self._guard.run(
                "lock", lambda: self._client.set(lock, token, nx=True, px=ttl_ms)
            )
        except CacheUnavailableError:
            await subscription.close()
            return await fetch()
        if won:
            await subscription.close()
            return await self._lead(key, lock, token, fetch)
        try:
            data = await subscription.wait(deadline - self._clock.monotonic())
        finally:
            await subscription.close()
        return await self._follow(key, data, fetch, read)

    async def _lead(
        self, key: CustomerKey, lock: str, token: str,
        fetch: Callable[[], Awaitable[EntitlementSet]],
    ) -> EntitlementSet:
        message: dict[str, str] = {}
        try:
            return await fetch()
        except Exception as error:
            message = {"error": str(error) or type(error).__name__}
            raise
        finally:
            # On cancellation ``{}`` is published: waiters read again and fetch themselves.
            await self._quietly("unlock", lambda: self._scripts.release_lock(keys=[lock], args=[token]))
            channel = self._keys.channel(key)
            await self._quietly("publish", lambda: self._client.publish(channel, json.dumps(message)))

    async def _follow(
        self, key: CustomerKey, data: bytes | None,
        fetch: Callable[[], Awaitable[EntitlementSet]],
        read: Callable[[], Awaitable[EntitlementSet | None]],
    ) -> EntitlementSet:
        where = {"customer_id": key.customer_id, "resource_id": key.resource_id}
        if data is None:
            log.info("no single-flight notification in time; fetching", extra=where)
            return await fetch()
        error = _error_of(data)
        if error is not None:
            raise UpstreamUnavailableError(f"the shared fetch by another process failed: {error}")
        try:
            entitlements = await read()
        except CacheUnavailableError:
            entitlements = None
        if entitlements is None:
            log.info("still a miss after the single-flight notification; fetching", extra=where)
            return await fetch()
        return entitlements

    async def _quietly(self, what: str, command: Callable[[], Awaitable[Any]]) -> None:
        try:
            await self._guard.run(what, command)
        except CacheUnavailableError as error:
            log.warning("single-flight %s failed", what, extra={"error": str(error)})

    async def aclose(self) -> None:
        await self._listener.aclose()
