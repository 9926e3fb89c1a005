"""External clients as async-generator resources: open, yield, close."""
from __future__ import annotations

from typing import AsyncIterator, Callable

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from adapters.outbound.file_outbox import FileOutbox
from adapters.outbound.outbox_items import USAGE_CODEC
from adapters.outbound.redis_outbox import RedisStreamOutbox
from adapters.outbound.redis_prepacked import PrepackingConnection, PrepackingSSLConnection
from ports.clock import Clock
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

#: Connection pool of the shared upstream client (our choice: enough for a burst of
#: cold misses and writes; the transport queues beyond it within each call's timeout).
MAX_CONNECTIONS = 100


async def http_transport() -> AsyncIterator[httpx.AsyncBaseTransport]:
    """One shared keep-alive upstream transport per process (upstream-api.md §6).

    The adapters speak httpx (its request/response model, transport API and exception
    types); the connections under it are aiohttp's, through httpx-aiohttp's
    ``AiohttpTransport``: ~0.55 ms less CPU per upstream request than httpx's own
    httpcore/anyio transport (docs/performance.md, "Upstream client"). ``StiggHttp``
    calls the transport directly, without ``httpx.AsyncClient`` (its docstring says
    what that saves and what it does in the client's place). What differs from httpx's
    own transport (review of the switch): HTTP/1.1 only; no write timeout (each call's
    overall ``asyncio.timeout`` in ``StiggHttp`` bounds it); up to ``MAX_CONNECTIONS``
    idle keep-alive sockets for 5 s (``max_keepalive_connections`` is not passed on);
    aiohttp resends a GET once by itself on a closed keep-alive connection; its parser
    rejects headers over 8190 bytes or more than 128 of them (``StiggHttp`` retries
    that as a connection failure); and a malformed chunk after the headers is noticed
    only when the call's time budget ends (aiohttp's C parser). No cookies: the session
    has aiohttp's ``DummyCookieJar``, so a ``Set-Cookie`` from upstream or a proxy is
    neither kept nor sent back (as with Stigg's own clients; aiohttp's default jar would
    keep one for a host name, not for an IP address).
    """
    limits = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=20)

    def session() -> aiohttp.ClientSession:
        # What httpx-aiohttp builds by itself (its SSL context, limits), but with no
        # cookie jar: its default session keeps a Set-Cookie for a host name and sends
        # it on every later call.
        connector = aiohttp.TCPConnector(keepalive_timeout=limits.keepalive_expiry,
                                         ssl=transport.ssl_context, limit=MAX_CONNECTIONS)
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

    # The session is made on the first request, inside the running event loop.
    transport = AiohttpTransport(limits=limits, trust_env=False, client=session)
    try:
        yield transport
    finally:
        await transport.aclose()


#: Per-command socket timeout of the Redis client, seconds (caching-and-redis.md §3.8).
REDIS_COMMAND_TIMEOUT_S = 1.0
#: Redis connections per process; beyond it callers wait for a free one (never fail).
REDIS_MAX_CONNECTIONS = 64


async def redis_client(
    host: str, port: int, db: int, username: str | None, password: str | None, tls: bool
) -> AsyncIterator[aioredis.Redis]:
    """One ``redis.asyncio.Redis`` per process over a *blocking* pool: when all
    connections are busy a command waits (up to the command timeout) instead of failing.
    """
    pool = aioredis.BlockingConnectionPool(
        # redis-py's connections, also sending prepacked commands (the cache's reads).
        connection_class=PrepackingSSLConnection if tls else PrepackingConnection,
        host=host, port=port, db=db, username=username, password=password,
        max_connections=REDIS_MAX_CONNECTIONS,
        timeout=REDIS_COMMAND_TIMEOUT_S,
        socket_timeout=REDIS_COMMAND_TIMEOUT_S,
        socket_connect_timeout=REDIS_COMMAND_TIMEOUT_S,
        health_check_interval=30,
        # A pooled connection that died with a Redis restart fails once, then the command
        # is retried on a fresh connection (no backoff), so recovery needs no extra miss.
        retry=Retry(NoBackoff(), 1),
        retry_on_error=[RedisConnectionError],
    )
    client = aioredis.Redis(connection_pool=pool)
    try:
        yield client
    finally:
        await client.aclose()
        await pool.disconnect()


async def event_outbox(directory: str, max_bytes: int, clock: Clock) -> AsyncIterator[FileOutbox]:
    """The file event outbox: recovered on open; closed (pending appends finished) last."""
    outbox = await FileOutbox.open(directory, max_bytes=max_bytes, clock=clock)
    try:
        yield outbox
    finally:
        await outbox.close()


async def usage_outbox(directory: str, max_bytes: int, clock: Clock) -> AsyncIterator[FileOutbox]:
    """The file usage outbox (``USAGE_BUFFERING=true``), like ``event_outbox`` but holding
    ``UsageReport`` items (``USAGE_CODEC``)."""
    outbox = await FileOutbox.open(directory, max_bytes=max_bytes, clock=clock, codec=USAGE_CODEC,
                                name="usage outbox")
    try:
        yield outbox
    finally:
        await outbox.close()


async def redis_event_outbox(
    client: aioredis.Redis, prefix: str, max_bytes: int, clock: Clock, claim_idle_ms: int,
    on_error: Callable[[], None],
) -> AsyncIterator[RedisStreamOutbox]:
    """The event outbox as the shared Redis stream ``<prefix>:outbox:events``; on close
    this process's unacknowledged events are handed to the other sidecars."""
    outbox = await RedisStreamOutbox.open(
        client, prefix=prefix, max_bytes=max_bytes, clock=clock, claim_idle_ms=claim_idle_ms,
        on_error=on_error, command_timeout_s=REDIS_COMMAND_TIMEOUT_S)
    try:
        yield outbox
    finally:
        await outbox.close()
