"""Fixtures of the Redis integration tests: a private redis-server, never the machine's.

- ``redis_server``: one server for the session, on a free loopback port; every test
  starts from FLUSHALL and uses DB 5 (never DB 0 or port 6379).
- ``fault_server``: a server of the test's own, for tests that kill, pause or restart it.
- ``make_cache``: builds ``RedisEntitlementCache`` objects (each on its own client by
  default, like separate sidecars) and closes them after the test.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from adapters.outbound.redis_cache import RedisEntitlementCache
from adapters.outbound.system_clock import SystemClock
from tests.support.redis_server import RedisServer, close_client, redis_client

PREFIX = "test-env"


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer()
    server.start()
    yield server
    server.close()


@pytest.fixture
def fault_server():
    server = RedisServer()
    server.start()
    yield server
    server.close()


@dataclass
class ErrorCounter:
    count: int = 0

    def __call__(self) -> None:
        self.count += 1


@pytest.fixture
def errors() -> ErrorCounter:
    return ErrorCounter()


@pytest.fixture
async def client(redis_server):
    """A client on the session server, DB 5, after FLUSHALL."""
    redis = redis_client(redis_server)
    await redis.flushall()
    yield redis
    await close_client(redis)


@dataclass
class CacheFactory:
    server: RedisServer
    errors: ErrorCounter
    made: list = field(default_factory=list)
    clients: list = field(default_factory=list)

    def client(self, **options):
        redis = redis_client(self.server, **options)
        self.clients.append(redis)
        return redis

    def __call__(self, client=None, *, prefix: str = PREFIX, ttl_s: int = 3600, clock=None,
                 command_timeout_s: float = 1.0, lock_budget_s: float = 5.0, **options):
        cache = RedisEntitlementCache(
            client if client is not None else self.client(timeout_s=command_timeout_s),
            prefix, ttl_s, clock or SystemClock(), self.errors,
            command_timeout_s=command_timeout_s, lock_budget_s=lock_budget_s, **options,
        )
        self.made.append(cache)
        return cache

    async def close(self) -> None:
        for cache in self.made:
            await cache.aclose()
        for redis in self.clients:
            await close_client(redis)


async def _factory(server, errors):
    factory = CacheFactory(server, errors)
    try:
        yield factory
    finally:
        await factory.close()


@pytest.fixture
async def make_cache(redis_server, client, errors):
    """Caches on the session server (``client`` has already flushed it)."""
    async for factory in _factory(redis_server, errors):
        yield factory


@pytest.fixture
async def make_fault_cache(fault_server, errors):
    """Caches on the test's own server (``fault_server``)."""
    async for factory in _factory(fault_server, errors):
        yield factory
