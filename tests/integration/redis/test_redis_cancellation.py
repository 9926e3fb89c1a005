"""Cancellation safety: a command cancelled after it was sent must never leave its reply
on a connection for the next command to read (redis-py #2624, #2665; fixed in 4.5.x).

What redis-py 8.x does: ``Connection.read_response`` and ``send_packed_command`` catch
``BaseException`` (``CancelledError`` included) and disconnect, so a cancelled command's
connection is closed and reconnected on next use. These tests pin that down for the
client we use and for the adapter's own timeouts.
"""
from __future__ import annotations

import asyncio
import random

import pytest

from domain.model.identifiers import CustomerKey
from ports.errors import CacheUnavailableError
from tests.fakes.builders import entitlement_set, metered
from tests.fakes.clock import FixedClock
from tests.support.redis_server import close_client, redis_client

N_KEYS = 40


def value_of(i: int) -> bytes:
    return (f"value-{i}-".encode()) * 8_000  # ~80 KB: several socket reads per reply


async def _fill(client) -> None:
    await client.mset({f"k{i}": value_of(i) for i in range(N_KEYS)})


async def _verify(client, rounds: int = 300) -> None:
    """Every reply belongs to its own request, under concurrency."""
    rng = random.Random(5)
    picks = [rng.randrange(N_KEYS) for _ in range(rounds)]
    replies = await asyncio.gather(*(client.get(f"k{i}") for i in picks))
    mismatched = [i for i, reply in zip(picks, replies) if reply != value_of(i)]
    assert not mismatched, f"{len(mismatched)} replies belonged to other requests"
    assert await client.incr("counter") == 1  # a reply of another type would break this


async def _cancel_at_random(client, seed: int, tasks: int = 300) -> int:
    rng = random.Random(seed)
    running = [asyncio.ensure_future(client.get(f"k{rng.randrange(N_KEYS)}")) for _ in range(tasks)]
    for task in running:
        for _ in range(rng.randrange(6)):
            await asyncio.sleep(0)
        task.cancel()
    outcomes = await asyncio.gather(*running, return_exceptions=True)
    return sum(isinstance(o, asyncio.CancelledError) for o in outcomes)


@pytest.mark.parametrize("options", [
    {"max_connections": 4},
    {"max_connections": 4, "protocol": 2},
], ids=["pool-resp3", "pool-resp2"])
async def test_cancelling_in_flight_gets_never_misroutes_replies(redis_server, client, options):
    shared = redis_client(redis_server, **options)
    try:
        await _fill(shared)
        cancelled = sum([await _cancel_at_random(shared, seed) for seed in range(5)])
        assert cancelled > 0
        await _verify(shared)
    finally:
        await close_client(shared)


async def test_cancelling_on_a_single_connection_client(redis_server, client):
    import redis.asyncio as aioredis

    single = aioredis.Redis(host=redis_server.host, port=redis_server.port, db=5,
                            single_connection_client=True, socket_timeout=2)
    try:
        await _fill(single)
        assert await _cancel_at_random(single, seed=9, tasks=100) > 0
        await _verify(single, rounds=50)
    finally:
        await single.aclose()


async def test_commands_cancelled_while_the_server_is_stopped(fault_server):
    """Deterministic: every command is sent, then cancelled before its reply exists; the
    replies arrive once the server resumes, on connections that must be gone."""
    shared = redis_client(fault_server, max_connections=8, timeout_s=None)
    try:
        await shared.flushall()
        await _fill(shared)
        with fault_server.paused():
            running = [asyncio.ensure_future(shared.get(f"k{i % N_KEYS}")) for i in range(8)]
            await asyncio.sleep(0.2)
            for task in running:
                task.cancel()
            outcomes = await asyncio.gather(*running, return_exceptions=True)
            assert all(isinstance(o, asyncio.CancelledError) for o in outcomes)
        await asyncio.sleep(0.1)
        await _verify(shared)
    finally:
        await close_client(shared)


async def test_adapter_timeouts_never_misroute_replies(redis_server, client, make_cache):
    """The adapter's own ``asyncio.timeout`` cancels reads mid-flight; a second cache on
    the same client then reads every entry back intact."""
    shared = make_cache.client(max_connections=6)
    hasty = make_cache(shared, clock=FixedClock(), command_timeout_s=0.0003, skip_s=0)
    steady = make_cache(shared, clock=FixedClock())
    keys = [CustomerKey(f"c{i}") for i in range(30)]
    for n, key in enumerate(keys):
        features = tuple(metered(f"f{j}", limit=n, current=n, updated_at=1) for j in range(40))
        await steady.put(entitlement_set(*features, key=key, timestamp=n), None)
    outcomes = await asyncio.gather(*(hasty.get(key) for key in keys * 10), return_exceptions=True)
    assert any(isinstance(o, CacheUnavailableError) for o in outcomes)
    for n, key in list(enumerate(keys)) * 5:
        entry = await steady.get(key)
        assert entry.entitlements.timestamp_ms == n
        assert all(e.usage_limit == n and e.usage.current_usage == n for e in entry.entitlements.features)
    entries = await asyncio.gather(*(steady.get(key) for key in keys * 5))
    assert [e.entitlements.key for e in entries] == keys * 5
