"""Single-flight across sidecars (caching-and-redis.md §3.7): two caches with their own
clients stand for two sidecar processes sharing one Redis."""
from __future__ import annotations

import asyncio
import time

import pytest

from domain.model.identifiers import CustomerKey
from ports.errors import CacheUnavailableError, UpstreamUnavailableError
from tests.fakes.builders import credit, entitlement_set, metered

ACME = CustomerKey("acme")
LOCK = "test-env:refetchEntityEntitlementsAfterCacheMiss-acme"
CHANNEL = "test-env:refetchEntityEntitlementsAfterCacheMiss:acme"


def sample(key: CustomerKey = ACME):
    return entitlement_set(metered("api-calls", limit=100, current=7, updated_at=900),
                           credit("usd", limit=5, current=1, updated_at=900), key=key, timestamp=1000)


class Upstream:
    """A fetch that counts its calls and writes what it fetched, as the loader's does."""

    def __init__(self, cache, delay_s: float = 0.3, error: Exception | None = None):
        self.cache, self.delay_s, self.error = cache, delay_s, error
        self.calls: list[CustomerKey] = []

    def fetch_for(self, key: CustomerKey):
        async def fetch():
            self.calls.append(key)
            await asyncio.sleep(self.delay_s)
            if self.error is not None:
                raise self.error
            try:
                await self.cache.put(sample(key), None)
            except CacheUnavailableError:
                pass  # the loader logs write failures and still answers
            return sample(key)
        return fetch


@pytest.mark.parametrize("protocol", [3, 2], ids=["resp3", "resp2"])
async def test_fifty_callers_on_two_sidecars_cause_one_fetch(make_cache, protocol):
    first = make_cache(make_cache.client(protocol=protocol))
    second = make_cache(make_cache.client(protocol=protocol))
    upstream = Upstream(first)
    fetch = upstream.fetch_for(ACME)
    results = await asyncio.gather(*(
        (first if i % 2 else second).fetch_once(ACME, fetch) for i in range(50)
    ))
    assert len(upstream.calls) == 1
    assert results == [sample()] * 50


async def test_the_lock_lives_for_the_budget_plus_one_second_and_is_released(make_cache, client):
    first = make_cache(lock_budget_s=2.0)
    seen = []

    async def fetch():
        seen.append(await client.pttl(LOCK))
        return sample()

    await first.fetch_once(ACME, fetch)
    assert 2900 < seen[0] <= 3000
    assert await client.exists(LOCK) == 0


async def test_a_failed_fetch_is_shared_with_the_other_sidecar(make_cache):
    first, second = make_cache(), make_cache()
    upstream = Upstream(first, error=UpstreamUnavailableError("upstream is down"))
    fetch = upstream.fetch_for(ACME)
    results = await asyncio.gather(
        *((first if i % 2 else second).fetch_once(ACME, fetch) for i in range(20)),
        return_exceptions=True,
    )
    assert len(upstream.calls) == 1
    assert all(isinstance(r, UpstreamUnavailableError) for r in results)
    messages = {str(r) for r in results}
    assert "upstream is down" in messages  # the winner's own callers: the original error
    assert any("another process" in m and "upstream is down" in m for m in messages)


async def test_without_a_notification_a_waiter_fetches_itself_after_the_budget(make_cache, client):
    await client.set(LOCK, "a-sidecar-that-died", px=60_000)
    cache = make_cache(lock_budget_s=0.5)
    upstream = Upstream(cache, delay_s=0)
    started = time.monotonic()
    assert await cache.fetch_once(ACME, upstream.fetch_for(ACME)) == sample()
    assert 0.45 < time.monotonic() - started < 1.5
    assert len(upstream.calls) == 1
    assert await client.get(LOCK) == b"a-sidecar-that-died"  # not ours: never deleted


async def test_a_notification_without_data_makes_the_waiter_fetch(make_cache, client):
    await client.set(LOCK, "someone-else", px=60_000)
    cache = make_cache(lock_budget_s=5.0)
    upstream = Upstream(cache, delay_s=0)
    flight = asyncio.ensure_future(cache.fetch_once(ACME, upstream.fetch_for(ACME)))
    for _ in range(100):  # wait until the waiter is subscribed
        if (await client.pubsub_numsub(CHANNEL))[0][1]:
            break
        await asyncio.sleep(0.01)
    started = time.monotonic()
    await client.publish(CHANNEL, "{}")
    assert await flight == sample()
    assert time.monotonic() - started < 1.0 and len(upstream.calls) == 1


async def test_a_notification_with_data_is_answered_from_redis(make_cache, client):
    await client.set(LOCK, "someone-else", px=60_000)
    cache = make_cache(lock_budget_s=5.0)
    upstream = Upstream(cache, delay_s=0)
    flight = asyncio.ensure_future(cache.fetch_once(ACME, upstream.fetch_for(ACME)))
    for _ in range(100):
        if (await client.pubsub_numsub(CHANNEL))[0][1]:
            break
        await asyncio.sleep(0.01)
    await cache.put(sample(), None)
    await client.publish(CHANNEL, "{}")
    assert await flight == sample()
    assert upstream.calls == []


async def test_the_winner_never_deletes_a_lock_it_no_longer_owns(make_cache, client):
    cache = make_cache()

    async def fetch():
        await client.set(LOCK, "taken-over-after-expiry", px=60_000)
        return sample()

    await cache.fetch_once(ACME, fetch)
    assert await client.get(LOCK) == b"taken-over-after-expiry"


async def test_many_keys_share_one_pubsub_connection_per_sidecar(make_cache, client):
    first, second = make_cache(), make_cache()
    upstream = Upstream(first, delay_s=0.2)
    keys = [CustomerKey(f"c{i}") for i in range(30)]
    flights = [c.fetch_once(key, upstream.fetch_for(key)) for key in keys for c in (first, second)]
    gathered = asyncio.gather(*flights)
    await asyncio.sleep(0.1)
    pubsub_clients = [c for c in await client.client_list() if "P" in c.get("flags", "")
                      or int(c.get("sub", 0)) > 0]
    results = await gathered
    assert results == [sample(key) for key in keys for _ in (first, second)]
    assert sorted(upstream.calls, key=str) == sorted(keys, key=str)
    assert 1 <= len(pubsub_clients) <= 2, pubsub_clients


async def test_waiters_stop_waiting_when_their_pubsub_connection_is_lost(make_cache, client):
    await client.set(LOCK, "slow-sidecar", px=60_000)
    cache = make_cache(lock_budget_s=5.0)
    upstream = Upstream(cache, delay_s=0)
    flight = asyncio.ensure_future(cache.fetch_once(ACME, upstream.fetch_for(ACME)))
    for _ in range(100):
        if (await client.pubsub_numsub(CHANNEL))[0][1]:
            break
        await asyncio.sleep(0.01)
    started = time.monotonic()
    await client.client_kill_filter(_type="pubsub")
    assert await flight == sample()
    assert time.monotonic() - started < 1.0 and len(upstream.calls) == 1
    # and the next flight subscribes on a new connection
    await client.delete(LOCK)
    assert await cache.fetch_once(ACME, upstream.fetch_for(ACME)) == sample()
    assert len(upstream.calls) == 2
