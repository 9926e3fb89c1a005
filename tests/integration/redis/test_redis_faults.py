"""Redis down, paused or restarted (caching-and-redis.md §3.8): bounded failures, a 1 s
skip window, every error counted, and recovery without a new client."""
from __future__ import annotations

import asyncio
import time

import pytest

from domain.model.entitlement import Usage
from domain.model.identifiers import CustomerKey
from domain.model.reports import UsageTarget
from ports.errors import CacheUnavailableError
from tests.fakes.builders import credit, entitlement_set, metered
from tests.fakes.clock import FixedClock

ACME = CustomerKey("acme")
TIMEOUT_S = 0.3
MARGIN_S = 0.25


def sample(timestamp: int = 1000):
    return entitlement_set(metered("api-calls", limit=100, current=7, updated_at=900),
                           credit("usd", limit=5, current=1, updated_at=900),
                           key=ACME, timestamp=timestamp)


async def timed(awaitable):
    started = time.monotonic()
    try:
        await awaitable
    except CacheUnavailableError as error:
        return time.monotonic() - started, error
    return time.monotonic() - started, None


async def test_killed_redis_fails_fast_and_is_then_skipped(make_fault_cache, fault_server, errors):
    clock = FixedClock()
    cache = make_fault_cache(clock=clock, command_timeout_s=TIMEOUT_S)
    await cache.put(sample(), None)
    fault_server.kill()

    elapsed, error = await timed(cache.get(ACME))
    assert error is not None and elapsed < TIMEOUT_S + MARGIN_S
    assert errors.count == 1

    fault_server.start()  # back already, but the skip window still holds
    for call in (cache.get(ACME), cache.put(sample(), None), cache.purge(ACME),
                 cache.set_usage(ACME, UsageTarget.FEATURE, "api-calls", Usage(1, None, None, 1))):
        elapsed, error = await timed(call)
        assert error is not None and "skipped" in str(error) and elapsed < 0.05
    assert errors.count == 1  # skipped calls are not client errors

    clock.advance(999)
    assert (await timed(cache.get(ACME)))[1] is not None
    clock.advance(2)
    assert await cache.get(ACME) is None  # a new, empty server
    await cache.put(sample(), None)
    assert (await cache.get(ACME)).entitlements == sample()


async def test_writes_to_a_dead_redis_raise(make_fault_cache, fault_server, errors):
    cache = make_fault_cache(clock=FixedClock(), command_timeout_s=TIMEOUT_S)
    fault_server.kill()
    with pytest.raises(CacheUnavailableError):
        await cache.put(sample(), None)
    assert errors.count == 1


async def test_restarted_redis_works_again_with_the_same_client(make_fault_cache, fault_server, errors):
    """Killed, then a new empty server on the same port (scripts gone). At most one call
    fails on a stale pooled connection; the pool's idle connections are then reset, and
    after the skip window everything works, concurrently too."""
    clock = FixedClock()
    cache = make_fault_cache(clock=clock, command_timeout_s=TIMEOUT_S)
    await cache.put(sample(), None)
    await asyncio.gather(*(cache.get(ACME) for _ in range(10)))  # ~10 pooled connections
    fault_server.restart()
    failures = 0
    for _ in range(3):
        try:
            assert await cache.get(ACME) is None
            break
        except CacheUnavailableError:
            failures += 1
            clock.advance(1001)
    assert failures <= 1 and errors.count == failures
    await cache.put(sample(2000), None)
    reads = await asyncio.gather(*(cache.get(ACME) for _ in range(20)))
    assert all(entry.entitlements == sample(2000) for entry in reads)
    assert errors.count == failures


@pytest.mark.parametrize("socket_timeout", [TIMEOUT_S, None], ids=["socket-timeout", "no-socket-timeout"])
async def test_paused_redis_fails_within_the_command_timeout(make_fault_cache, fault_server, errors,
                                                             socket_timeout):
    """SIGSTOP: connections stay open and nothing answers. The adapter's own timeout
    bounds every call even when the client has no socket timeout."""
    clock = FixedClock()
    client = make_fault_cache.client(timeout_s=socket_timeout)
    cache = make_fault_cache(client, clock=clock, command_timeout_s=TIMEOUT_S)
    await cache.put(sample(), None)
    with fault_server.paused():
        for call in (cache.get(ACME), cache.put(sample(1001), None)):
            elapsed, error = await timed(call)
            assert error is not None and elapsed < TIMEOUT_S + MARGIN_S
            clock.advance(1001)
        await asyncio.sleep(0.1)
    assert errors.count == 2
    # Replies to the abandoned commands arrive now; they must not reach later commands.
    for _ in range(20):
        entry = await cache.get(ACME)
        assert entry.entitlements.timestamp_ms in (1000, 1001)
        assert entry.entitlements.feature("api-calls").usage_limit == 100


async def test_fetch_once_without_redis_fetches_without_coordination(make_fault_cache, fault_server):
    clock = FixedClock()
    cache = make_fault_cache(clock=clock, command_timeout_s=TIMEOUT_S)
    fault_server.kill()
    calls = []

    async def fetch():
        calls.append(1)
        await asyncio.sleep(0.05)
        return sample()

    results = await asyncio.gather(*(cache.fetch_once(ACME, fetch) for _ in range(5)))
    assert results == [sample()] * 5 and len(calls) == 1


async def test_single_flight_recovers_after_a_restart(make_fault_cache, fault_server):
    clock = FixedClock()
    first = make_fault_cache(clock=clock, command_timeout_s=TIMEOUT_S)
    second = make_fault_cache(clock=clock, command_timeout_s=TIMEOUT_S)
    calls = []

    async def fetch():
        calls.append(1)
        await asyncio.sleep(0.2)
        await first.put(sample(), None)
        return sample()

    await asyncio.gather(first.fetch_once(ACME, fetch), second.fetch_once(ACME, fetch))
    assert len(calls) == 1
    fault_server.restart()
    # Each reader sees its pub/sub connection drop and resets the idle pooled
    # connections, so no command has to fail on a connection to the old server.
    await asyncio.sleep(0.1)
    calls.clear()
    results = await asyncio.gather(*(c.fetch_once(ACME, fetch) for c in (first, second) for _ in range(5)))
    assert results == [sample()] * 10
    assert len(calls) == 1
