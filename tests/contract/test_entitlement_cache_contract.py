"""The contract of the ``EntitlementCache`` port, run against every adapter.

To cover a new adapter, add one line to ``ADAPTERS``: an async context manager that
takes the pytest ``request`` and yields a ready, empty cache in which a written entry
is trusted (for the in-memory cache: ``set_live(True)``, as when the real-time feed is
live; Redis is always trusted).

What every adapter shares (reference: caching-and-redis.md §1, §2.2, §3; the port's
docstrings):
- a written set reads back equal, every field included (usage of metered features and
  credits too), with its customer-level reason and set timestamp;
- the ordering rule for sets and, separately, for each usage: a write with timestamp t
  replaces a stored s only if t == 0 or s <= t;
- ``set_usage`` changes only existing entries and entitlements;
- ``purge`` removes an entry, and only that one;
- ``fetch_once`` runs one fetch for concurrent callers, who all get its result or error.

Not shared, hence not here: a set write that loses the ordering rule while carrying a
newer usage (Redis orders each usage pair independently, memory skips the whole write),
and what the adapters do with a usage ``updated_at`` of 0 on a set write.
"""
from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncIterator, Callable

import pytest

from adapters.outbound.memory_cache import MemoryEntitlementCache
from adapters.outbound.redis_cache import RedisEntitlementCache
from domain.model.entitlement import (
    CreditEntitlement,
    CreditRate,
    Currency,
    EntitlementSet,
    Feature,
    FeatureEntitlement,
    Usage,
)
from domain.model.identifiers import CustomerKey
from domain.model.kinds import AccessDeniedReason, FeatureType, MeterType, ResetPeriod
from domain.model.reports import UsageTarget
from ports.entitlement_cache import EntitlementCache
from ports.errors import UpstreamUnavailableError
from tests.fakes.clock import FixedClock
from tests.support.redis_server import RedisServer, close_client, redis_client

T0 = 1_752_150_000_000  # 2025-07-10T12:20:00Z, epoch ms
ACME = CustomerKey("acme")
ACME_R1 = CustomerKey("acme", "res-1")


# --- adapters ------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def memory_cache(request) -> AsyncIterator[EntitlementCache]:
    cache = MemoryEntitlementCache(max_bytes=64 * 1024 * 1024)
    cache.set_live(True)
    yield cache


@contextlib.asynccontextmanager
async def redis_entitlement_cache(request) -> AsyncIterator[EntitlementCache]:
    server: RedisServer = request.getfixturevalue("contract_redis_server")
    client = redis_client(server)
    await client.flushall()
    cache = RedisEntitlementCache(client, "contract", 3600, FixedClock(), lock_budget_s=5.0)
    try:
        yield cache
    finally:
        await cache.aclose()
        await close_client(client)


ADAPTERS = [
    pytest.param(memory_cache, id="memory"),
    pytest.param(redis_entitlement_cache, id="redis"),
]


@pytest.fixture(scope="module")
def contract_redis_server():
    with RedisServer() as server:
        yield server


@pytest.fixture(params=ADAPTERS)
async def cache(request) -> AsyncIterator[EntitlementCache]:
    async with request.param(request) as adapter:
        yield adapter


# --- values --------------------------------------------------------------------------------


def usage(current: float, at: int, start: int | None = T0 - 86_400_000, end: int | None = T0 + 86_400_000) -> Usage:
    return Usage(current, start, end, at)


def api_calls(limit: float = 1000, current: float = 12, at: int = T0) -> FeatureEntitlement:
    return FeatureEntitlement(
        feature=Feature("api-calls", FeatureType.NUMBER, MeterType.INCREMENTAL,
                        units="call", units_plural="calls", display_name="API calls"),
        usage_limit=limit,
        reset_period=ResetPeriod.MONTH,
        reset_period_configuration={"monthlyAccordingTo": "SubscriptionStart"},
        usage_period_anchor_ms=T0 - 40 * 86_400_000,
        usage=usage(current, at),
    )


def wallet(current: float = 40, at: int = T0) -> CreditEntitlement:
    return CreditEntitlement(
        currency=Currency("usd-credits", "USD credits", "Prepaid", "credit", "credits",
                          {"tier": "gold", "nested": {"n": 1}}),
        usage_limit=500,
        has_soft_limit=True,
        valid_until_ms=T0 + 365 * 86_400_000,
        usage=usage(current, at, start=None),
    )


def full_set(key: CustomerKey = ACME, timestamp: int = T0, **overrides) -> EntitlementSet:
    """Every kind of entitlement, every optional field set somewhere."""
    features = (
        FeatureEntitlement(Feature("sso", FeatureType.BOOLEAN, MeterType.NONE, display_name="SSO")),
        FeatureEntitlement(
            Feature("seats", FeatureType.NUMBER, None, units="seat", units_plural="seats"),
            usage_limit=25.5, has_soft_limit=True,
        ),
        FeatureEntitlement(
            Feature("region", FeatureType.ENUM, MeterType.NONE),
            enum_values=("eu", "us"), valid_until_ms=T0 + 1000,
        ),
        FeatureEntitlement(
            Feature("unlimited", FeatureType.NUMBER, MeterType.FLUCTUATING),
            has_unlimited_usage=True, usage=usage(3, T0 - 5),
        ),
        FeatureEntitlement(
            Feature("premium", FeatureType.BOOLEAN, MeterType.NONE),
            denial_reason=AccessDeniedReason.NO_FEATURE_ENTITLEMENT_IN_SUBSCRIPTION,
        ),
        FeatureEntitlement(
            Feature("ai-tokens", FeatureType.NUMBER, MeterType.INCREMENTAL),
            credit_rate=CreditRate(2.5, "usd-credits"), reset_period=ResetPeriod.DAY,
            usage=usage(0, T0 - 7, start=None, end=None),
        ),
        api_calls(),
    )
    values = dict(key=key, features=features, credits=(wallet(),),
                  customer_reason=None, timestamp_ms=timestamp)
    values.update(overrides)
    return EntitlementSet(**values)


async def read(cache: EntitlementCache, key: CustomerKey = ACME) -> EntitlementSet | None:
    entry = await cache.get(key)
    if entry is None:
        return None
    assert entry.trusted
    return entry.entitlements


async def write(cache: EntitlementCache, entitlements: EntitlementSet) -> None:
    await cache.put(entitlements, cache.fetch_token())


# --- get / put -----------------------------------------------------------------------------


async def test_an_unknown_key_is_a_miss(cache):
    assert await cache.get(ACME) is None


async def test_a_written_set_reads_back_with_every_field(cache):
    written = full_set()
    await write(cache, written)
    assert await read(cache) == written


async def test_customer_level_reason_and_empty_set_round_trip(cache):
    written = EntitlementSet(ACME, customer_reason=AccessDeniedReason.CUSTOMER_NOT_FOUND, timestamp_ms=0)
    await write(cache, written)
    assert await read(cache) == written


async def test_an_update_from_the_feed_reads_back_too(cache):
    written = full_set()
    await cache.apply_update(written)
    assert await read(cache) == written


async def test_resource_entries_are_separate_from_the_global_entry(cache):
    global_set = full_set(ACME, T0, features=(api_calls(limit=1),))
    resource_set = full_set(ACME_R1, T0 + 10, features=(api_calls(limit=2),))
    await write(cache, global_set)
    await write(cache, resource_set)
    assert await read(cache, ACME) == global_set
    assert await read(cache, ACME_R1) == resource_set
    assert await read(cache, CustomerKey("acme", "res-2")) is None


# --- ordering rule -------------------------------------------------------------------------


@pytest.mark.parametrize("delta, replaced", [(+1, True), (0, True), (-1, False)])
async def test_a_set_replaces_the_stored_one_only_if_newer_or_equal(cache, delta, replaced):
    await write(cache, full_set(features=(api_calls(limit=1),), timestamp=T0))
    incoming = full_set(features=(api_calls(limit=2),), timestamp=T0 + delta)
    await write(cache, incoming)
    stored = await read(cache)
    assert stored.feature("api-calls").usage_limit == (2 if replaced else 1)
    assert stored.timestamp_ms == (T0 + delta if replaced else T0)


async def test_a_set_with_timestamp_zero_always_wins(cache):
    await write(cache, full_set(timestamp=T0))
    emptied = EntitlementSet(ACME, customer_reason=AccessDeniedReason.CUSTOMER_NOT_FOUND, timestamp_ms=0)
    await write(cache, emptied)
    assert await read(cache) == emptied


async def test_an_older_set_write_from_the_feed_is_ignored_too(cache):
    await cache.apply_update(full_set(features=(api_calls(limit=5),), timestamp=T0))
    await cache.apply_update(full_set(features=(api_calls(limit=9),), timestamp=T0 - 1))
    assert (await read(cache)).feature("api-calls").usage_limit == 5


async def test_a_newer_set_keeps_a_stored_usage_that_is_newer_than_its_own(cache):
    await write(cache, full_set(features=(api_calls(current=50, at=T0 + 100),), timestamp=T0))
    await write(cache, full_set(features=(api_calls(limit=7, current=10, at=T0 + 1),), timestamp=T0 + 1))
    stored = (await read(cache)).feature("api-calls")
    assert stored.usage_limit == 7
    assert stored.usage.current_usage == 50 and stored.usage.updated_at_ms == T0 + 100


async def test_a_newer_set_with_newer_usage_replaces_both(cache):
    await write(cache, full_set(features=(api_calls(current=50, at=T0),), timestamp=T0))
    await write(cache, full_set(features=(api_calls(current=60, at=T0 + 5),), timestamp=T0 + 1))
    assert (await read(cache)).feature("api-calls").usage == usage(60, T0 + 5)


async def test_credit_usage_follows_the_ordering_rule_on_set_writes(cache):
    await write(cache, full_set(credits=(wallet(current=90, at=T0 + 100),), timestamp=T0))
    await write(cache, full_set(credits=(wallet(current=1, at=T0 + 2),), timestamp=T0 + 2))
    assert (await read(cache)).credit("usd-credits").usage.current_usage == 90


# --- set_usage -----------------------------------------------------------------------------


@pytest.mark.parametrize("at, applied", [(T0 + 1, True), (T0, True), (T0 - 1, False), (0, True)])
async def test_set_usage_follows_the_ordering_rule(cache, at, applied):
    await write(cache, full_set())
    new = Usage(99, T0, T0 + 10, at)
    await cache.set_usage(ACME, UsageTarget.FEATURE, "api-calls", new)
    stored = await read(cache)
    assert stored.feature("api-calls").usage == (new if applied else api_calls().usage)
    assert stored.feature("sso") == full_set().feature("sso")
    assert stored.timestamp_ms == T0


async def test_set_usage_on_a_credit_wallet(cache):
    await write(cache, full_set())
    new = Usage(77, None, T0 + 10, T0 + 1)
    await cache.set_usage(ACME, UsageTarget.CREDIT, "usd-credits", new)
    assert (await read(cache)).credit("usd-credits").usage == new


async def test_set_usage_never_creates_an_entry(cache):
    await cache.set_usage(ACME, UsageTarget.FEATURE, "api-calls", Usage(1, None, None, T0))
    await cache.set_usage(ACME, UsageTarget.CREDIT, "usd-credits", Usage(1, None, None, T0))
    assert await cache.get(ACME) is None


async def test_set_usage_for_an_absent_entitlement_changes_nothing(cache):
    written = full_set(features=(api_calls(),), credits=())
    await write(cache, written)
    await cache.set_usage(ACME, UsageTarget.FEATURE, "not-in-set", Usage(5, None, None, T0 + 1))
    await cache.set_usage(ACME, UsageTarget.CREDIT, "usd-credits", Usage(5, None, None, T0 + 1))
    await cache.set_usage(ACME_R1, UsageTarget.FEATURE, "api-calls", Usage(5, None, None, T0 + 1))
    assert await read(cache) == written
    assert await cache.get(ACME_R1) is None


async def test_an_entitlement_added_later_does_not_inherit_an_ignored_usage(cache):
    await write(cache, full_set(features=(api_calls(),), credits=()))
    await cache.set_usage(ACME, UsageTarget.FEATURE, "later", Usage(500, None, None, T0 + 99))
    later = FeatureEntitlement(Feature("later", FeatureType.NUMBER, MeterType.INCREMENTAL),
                               usage=usage(1, T0 + 1))
    await write(cache, full_set(features=(api_calls(), later), credits=(), timestamp=T0 + 1))
    assert (await read(cache)).feature("later").usage == usage(1, T0 + 1)


# --- purge ---------------------------------------------------------------------------------


async def test_purge_removes_only_that_entry(cache):
    await write(cache, full_set(ACME, T0))
    await write(cache, full_set(ACME_R1, T0))
    await write(cache, full_set(CustomerKey("other"), T0))
    await cache.purge(ACME_R1)
    assert await cache.get(ACME_R1) is None
    assert await read(cache, ACME) == full_set(ACME, T0)
    assert await read(cache, CustomerKey("other")) == full_set(CustomerKey("other"), T0)


async def test_purge_of_an_absent_entry_is_harmless_and_a_later_write_works(cache):
    await cache.purge(ACME)
    await write(cache, full_set())
    await cache.purge(ACME)
    assert await cache.get(ACME) is None
    await write(cache, full_set(timestamp=T0 - 10))
    assert await read(cache) == full_set(timestamp=T0 - 10)


# --- fetch_once ----------------------------------------------------------------------------


def counting_fetch(result: Callable[[], EntitlementSet], delay_s: float = 0.1):
    calls = []

    async def fetch() -> EntitlementSet:
        calls.append(1)
        await asyncio.sleep(delay_s)
        return result()

    return fetch, calls


async def test_concurrent_callers_share_one_fetch_and_its_result(cache):
    fetch, calls = counting_fetch(full_set)
    results = await asyncio.gather(*(cache.fetch_once(ACME, fetch) for _ in range(25)))
    assert len(calls) == 1
    assert all(result == full_set() for result in results)
    assert all(result is results[0] for result in results)


async def test_concurrent_callers_share_one_failure(cache):
    calls = []

    async def failing() -> EntitlementSet:
        calls.append(1)
        await asyncio.sleep(0.1)
        raise UpstreamUnavailableError("upstream is down")

    results = await asyncio.gather(
        *(cache.fetch_once(ACME, failing) for _ in range(10)), return_exceptions=True
    )
    assert len(calls) == 1
    assert all(isinstance(r, UpstreamUnavailableError) for r in results)
    assert {str(r) for r in results} == {"upstream is down"}


async def test_sequential_calls_each_fetch(cache):
    fetch, calls = counting_fetch(full_set, delay_s=0)
    await cache.fetch_once(ACME, fetch)
    await cache.fetch_once(ACME, fetch)
    assert len(calls) == 2


async def test_different_keys_fetch_separately_and_concurrently(cache):
    fetch_a, calls_a = counting_fetch(lambda: full_set(ACME), delay_s=0.2)
    fetch_b, calls_b = counting_fetch(lambda: full_set(ACME_R1), delay_s=0.2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    a, b = await asyncio.gather(cache.fetch_once(ACME, fetch_a), cache.fetch_once(ACME_R1, fetch_b))
    assert (a.key, b.key) == (ACME, ACME_R1)
    assert len(calls_a) == len(calls_b) == 1
    assert loop.time() - started < 0.35


async def test_a_cancelled_caller_does_not_cancel_the_shared_fetch(cache):
    fetch, calls = counting_fetch(full_set, delay_s=0.2)
    first = asyncio.ensure_future(cache.fetch_once(ACME, fetch))
    second = asyncio.ensure_future(cache.fetch_once(ACME, fetch))
    await asyncio.sleep(0.05)
    first.cancel()
    assert await second == full_set()
    assert first.cancelled()
    assert len(calls) == 1
