"""The read algorithm (caching-and-redis.md §1-§2) with the real MemoryEntitlementCache."""
from __future__ import annotations

import asyncio

import pytest

from adapters.outbound.memory_cache import MemoryEntitlementCache
from domain.model.budget import Budget
from domain.model.entitlement import Usage
from domain.model.identifiers import CustomerKey
from domain.model.reports import UsageTarget
from domain.services.check_entitlement import feature_expired
from domain.services.load_entitlements import LoadEntitlements, Source
from ports.errors import CacheUnavailableError, UpstreamAuthError, UpstreamUnavailableError
from tests.fakes.builders import ACME, boolean, entitlement_set, metered

BUDGET = Budget(2000.0)


async def until(predicate, *, rounds: int = 10_000) -> None:
    """Let other tasks run until ``predicate()`` holds (bounded, never sleeps on time)."""
    for _ in range(rounds):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never became true")


# --- without a live feed, nothing is trusted ------------------------------------------------

async def test_cold_read_fetches_and_writes_an_untrusted_entry(loader, source, cache, telemetry):
    source.serve(entitlement_set(boolean("sso")))
    loaded = await loader.execute(ACME, BUDGET)
    assert loaded.source is Source.LIVE
    assert loaded.entitlements.feature("sso") is not None
    assert [c.consistent for c in source.calls] == [False]
    entry = await cache.get(ACME)
    assert entry is not None and entry.trusted is False
    assert telemetry.cache_misses == 1 and telemetry.cache_hits == 0


async def test_with_the_feed_off_every_read_refetches(loader, source, telemetry):
    source.serve(entitlement_set(metered("m", 10, 1), timestamp=1))
    first = await loader.execute(ACME, BUDGET)
    source.serve(entitlement_set(metered("m", 10, 2), timestamp=2))
    second = await loader.execute(ACME, BUDGET)
    third = await loader.execute(ACME, BUDGET)
    assert len(source.calls) == 3
    assert [x.source for x in (first, second, third)] == [Source.LIVE] * 3
    assert second.entitlements.feature("m").usage.current_usage == 2
    assert telemetry.cache_misses == 3 and telemetry.cache_hits == 0


# --- trusted entries ------------------------------------------------------------------------------

async def test_trusted_entry_answers_without_fetching(loader, source, cache, telemetry):
    cache.set_live(True)
    source.serve(entitlement_set(boolean("sso")))
    await loader.execute(ACME, BUDGET)
    source.fail()
    loaded = await loader.execute(ACME, BUDGET)
    assert loaded.source is Source.CACHE
    assert loaded.entitlements.feature("sso") is not None
    assert len(source.calls) == 1
    assert telemetry.cache_hits == 1 and telemetry.cache_misses == 1
    assert telemetry.upstream_errors == []


async def test_realtime_entry_is_trusted(loader, source, cache):
    cache.set_live(True)
    await cache.apply_update(entitlement_set(boolean("sso")))
    assert (await loader.execute(ACME, BUDGET)).source is Source.CACHE
    assert source.calls == []


@pytest.mark.parametrize("lose_trust", ["feed-lost", "drop-trust"])
async def test_losing_trust_makes_the_next_read_refetch(loader, source, cache, lose_trust):
    cache.set_live(True)
    source.serve(entitlement_set(boolean("sso")))
    await loader.execute(ACME, BUDGET)
    if lose_trust == "feed-lost":
        cache.set_live(False)
    else:
        await cache.drop_trust()
    assert (await loader.execute(ACME, BUDGET)).source is Source.LIVE
    assert len(source.calls) == 2


@pytest.mark.parametrize("trust_change", ["set-live", "drop-trust"])
async def test_fetch_that_overlaps_a_trust_change_is_written_but_not_trusted(
    loader, source, cache, trust_change
):
    if trust_change == "drop-trust":
        cache.set_live(True)
    source.serve(entitlement_set(boolean("sso")))
    gate = source.hold()
    read = asyncio.ensure_future(loader.execute(ACME, BUDGET))
    await source.started.wait()
    if trust_change == "set-live":
        cache.set_live(True)
    else:
        await cache.drop_trust()
    gate.set()
    assert (await read).source is Source.LIVE
    entry = await cache.get(ACME)
    assert entry is not None and entry.trusted is False
    assert (await loader.execute(ACME, BUDGET)).source is Source.LIVE
    assert (await loader.execute(ACME, BUDGET)).source is Source.CACHE
    assert len(source.calls) == 2


# --- single-flight ------------------------------------------------------------------------------------

async def test_1000_concurrent_cold_reads_share_one_fetch(loader, source, telemetry):
    source.serve(entitlement_set(boolean("sso")))
    gate = source.hold()
    reads = [asyncio.ensure_future(loader.execute(ACME, BUDGET)) for _ in range(1000)]
    await until(lambda: telemetry.cache_misses == 1000)
    await source.started.wait()
    gate.set()
    results = await asyncio.gather(*reads)
    assert len(source.calls) == 1
    assert {id(r.entitlements) for r in results} == {id(results[0].entitlements)}
    assert all(r.source is Source.LIVE for r in results)


async def test_concurrent_reads_share_one_failure(loader, source, telemetry):
    source.fail()
    gate = source.hold()
    reads = [asyncio.ensure_future(loader.execute(ACME, BUDGET)) for _ in range(200)]
    await until(lambda: telemetry.cache_misses == 200)
    gate.set()
    assert await asyncio.gather(*reads) == [None] * 200
    assert len(source.calls) == 1


async def test_single_flight_is_per_key(loader, source, telemetry):
    keys = [ACME, CustomerKey("acme", "r1"), CustomerKey("other")]
    gate = source.hold()
    reads = [asyncio.ensure_future(loader.execute(k, BUDGET)) for k in keys * 10]
    await until(lambda: telemetry.cache_misses == 30)
    gate.set()
    await asyncio.gather(*reads)
    assert sorted(map(str, source.keys_fetched)) == sorted(map(str, keys))


async def test_a_cancelled_waiter_does_not_cancel_the_shared_fetch(loader, source, telemetry):
    source.serve(entitlement_set(boolean("sso")))
    gate = source.hold()
    impatient = asyncio.ensure_future(loader.execute(ACME, BUDGET))
    patient = asyncio.ensure_future(loader.execute(ACME, BUDGET))
    await until(lambda: telemetry.cache_misses == 2)
    impatient.cancel()
    gate.set()
    assert (await patient).entitlements.feature("sso") is not None
    assert impatient.cancelled() and len(source.calls) == 1


async def test_a_spent_budget_does_not_start_a_fetch(loader, source, telemetry):
    source.serve(entitlement_set(boolean("sso")))
    assert await loader.execute(ACME, Budget(1000.0)) is None  # deadline == the clock's now
    assert source.calls == [] and telemetry.cache_misses == 1


async def test_a_spent_budget_answers_with_last_known_good(loader, source):
    source.serve(entitlement_set(boolean("sso")))
    await loader.execute(ACME, BUDGET)  # untrusted: the feed is off
    loaded = await loader.execute(ACME, Budget(1000.0))
    assert loaded.source is Source.LAST_KNOWN_GOOD and len(source.calls) == 1


async def test_a_caller_deadline_stops_only_that_caller_waiting(loader, source):
    source.serve(entitlement_set(boolean("sso")))
    gate = source.hold()
    patient = asyncio.ensure_future(loader.execute(ACME, BUDGET))
    assert await loader.execute(ACME, Budget(1000.02)) is None  # 20 ms of real time
    gate.set()
    assert (await patient).source is Source.LIVE and len(source.calls) == 1


async def test_a_timeout_inside_the_fetch_is_a_failed_fetch_not_the_callers_deadline(
        loader, source, telemetry):
    source.fail(TimeoutError())
    assert await loader.execute(ACME, BUDGET) is None
    assert telemetry.upstream_errors == [False]


async def test_a_new_fetch_starts_after_the_previous_one_finished(loader, source):
    await loader.execute(ACME, BUDGET)
    await loader.execute(ACME, BUDGET)
    assert len(source.calls) == 2


# --- last-known-good -----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "error, auth",
    [(UpstreamUnavailableError("503"), False), (UpstreamAuthError("401"), True)],
    ids=["unavailable", "auth"],
)
async def test_failed_refetch_answers_with_last_known_good(loader, source, telemetry, error, auth):
    source.serve(entitlement_set(boolean("sso")))
    await loader.execute(ACME, BUDGET)
    source.fail(error)
    loaded = await loader.execute(ACME, BUDGET)
    assert loaded.source is Source.LAST_KNOWN_GOOD
    assert loaded.entitlements.feature("sso") is not None
    assert telemetry.last_known_good_reads == 1
    assert telemetry.upstream_errors == [auth]


async def test_failed_refetch_after_trust_dropped_uses_last_known_good(loader, source, cache):
    cache.set_live(True)
    source.serve(entitlement_set(boolean("sso")))
    await loader.execute(ACME, BUDGET)
    await cache.drop_trust()
    source.fail()
    assert (await loader.execute(ACME, BUDGET)).source is Source.LAST_KNOWN_GOOD


async def test_failed_fetch_with_nothing_cached_is_none(loader, source, telemetry):
    source.fail()
    assert await loader.execute(ACME, BUDGET) is None
    assert telemetry.last_known_good_reads == 0 and telemetry.upstream_errors == [False]


async def test_purged_entry_is_not_last_known_good(loader, source, cache):
    source.serve(entitlement_set(boolean("sso")))
    await loader.execute(ACME, BUDGET)
    await cache.purge(ACME)
    source.fail()
    assert await loader.execute(ACME, BUDGET) is None


# --- expiry (decision-rules.md §6) --------------------------------------------------------------------

async def test_expired_entry_is_never_last_known_good(loader, source, clock, telemetry):
    source.serve(entitlement_set(boolean("sso", valid_until=clock.now_ms() + 1_000)))
    assert await loader.execute(ACME, BUDGET, feature_expired("sso")) is not None
    clock.advance(1_000)
    source.fail()
    assert await loader.execute(ACME, BUDGET, feature_expired("sso")) is None
    assert await loader.execute(ACME, BUDGET) is None
    assert telemetry.last_known_good_reads == 0


async def test_trusted_but_expired_entry_is_refetched(loader, source, cache, clock):
    cache.set_live(True)
    source.serve(entitlement_set(boolean("sso", valid_until=clock.now_ms() + 1_000), timestamp=1))
    await loader.execute(ACME, BUDGET)
    clock.advance(5_000)
    source.serve(entitlement_set(boolean("sso"), timestamp=2))
    loaded = await loader.execute(ACME, BUDGET, feature_expired("sso"))
    assert loaded.source is Source.LIVE and len(source.calls) == 2
    assert loaded.entitlements.feature("sso").valid_until_ms is None


async def test_single_lookup_checks_only_its_own_entitlement(loader, source, clock):
    source.serve(entitlement_set(boolean("sso"), boolean("beta", valid_until=clock.now_ms() + 1)))
    await loader.execute(ACME, BUDGET)
    clock.advance(10)
    source.fail()
    assert (await loader.execute(ACME, BUDGET, feature_expired("sso"))).source is (
        Source.LAST_KNOWN_GOOD)
    assert await loader.execute(ACME, BUDGET, feature_expired("beta")) is None
    assert await loader.execute(ACME, BUDGET) is None


async def test_bulk_lookup_of_trusted_entry_with_any_expired_refetches(loader, source, cache, clock):
    cache.set_live(True)
    source.serve(entitlement_set(boolean("sso"), boolean("beta", valid_until=clock.now_ms() + 1)))
    await loader.execute(ACME, BUDGET)
    clock.advance(10)
    assert (await loader.execute(ACME, BUDGET, feature_expired("sso"))).source is Source.CACHE
    assert (await loader.execute(ACME, BUDGET)).source is Source.LIVE


# --- the ordering rule (caching-and-redis.md §1) ---------------------------------------------------------

async def test_older_fetch_does_not_overwrite_a_newer_entry(loader, source, cache):
    await cache.apply_update(entitlement_set(metered("m", 50), timestamp=2_000))
    source.serve(entitlement_set(metered("m", 10), timestamp=1_000))
    await loader.execute(ACME, BUDGET)
    stored = (await cache.get(ACME)).entitlements
    assert stored.timestamp_ms == 2_000 and stored.feature("m").usage_limit == 50


@pytest.mark.parametrize("incoming", [2_000, 3_000, 0], ids=["equal", "newer", "zero-always-wins"])
async def test_newer_equal_or_zero_timestamp_overwrites(cache, incoming):
    await cache.apply_update(entitlement_set(metered("m", 50), timestamp=2_000))
    await cache.put(entitlement_set(metered("m", 10), timestamp=incoming), cache.fetch_token())
    stored = (await cache.get(ACME)).entitlements
    assert stored.timestamp_ms == incoming and stored.feature("m").usage_limit == 10


async def test_usage_timestamps_guard_usage_separately(cache):
    await cache.apply_update(entitlement_set(
        metered("old-usage-kept", 10, 7, updated_at=5_000),
        metered("new-usage-taken", 10, 7, updated_at=5_000),
        timestamp=1_000))
    await cache.put(entitlement_set(
        metered("old-usage-kept", 50, 3, updated_at=3_000),
        metered("new-usage-taken", 50, 3, updated_at=6_000),
        timestamp=2_000), cache.fetch_token())
    stored = (await cache.get(ACME)).entitlements
    kept, taken = stored.feature("old-usage-kept"), stored.feature("new-usage-taken")
    assert (kept.usage_limit, kept.usage.current_usage, kept.usage.updated_at_ms) == (50, 7, 5_000)
    assert (taken.usage_limit, taken.usage.current_usage) == (50, 3)


@pytest.mark.parametrize(
    "updated_at, expected", [(4_000, 7), (5_000, 9), (6_000, 9), (0, 9)],
    ids=["older-ignored", "equal-applied", "newer-applied", "zero-applied"],
)
async def test_set_usage_obeys_the_ordering_rule(cache, updated_at, expected):
    await cache.apply_update(entitlement_set(metered("m", 10, 7, updated_at=5_000)))
    await cache.set_usage(ACME, UsageTarget.FEATURE, "m", Usage(9, None, None, updated_at))
    assert (await cache.get(ACME)).entitlements.feature("m").usage.current_usage == expected


@pytest.mark.parametrize("live", [True, False], ids=["trusted", "untrusted"])
async def test_set_usage_never_changes_trust(cache, live):
    cache.set_live(True)
    if live:
        await cache.apply_update(entitlement_set(metered("m", 10, 7)))
    else:
        await cache.put(entitlement_set(metered("m", 10, 7)), "stale-token")
    await cache.set_usage(ACME, UsageTarget.FEATURE, "m", Usage(9, None, None, 1))
    entry = await cache.get(ACME)
    assert entry.trusted is live and entry.entitlements.feature("m").usage.current_usage == 9


async def test_set_usage_never_creates_entries_or_entitlements(cache):
    await cache.set_usage(ACME, UsageTarget.FEATURE, "m", Usage(9))
    assert await cache.get(ACME) is None
    await cache.apply_update(entitlement_set(metered("m", 10, 7)))
    await cache.set_usage(ACME, UsageTarget.FEATURE, "other", Usage(9))
    await cache.set_usage(ACME, UsageTarget.CREDIT, "m", Usage(9))
    stored = (await cache.get(ACME)).entitlements
    assert stored.feature("other") is None and stored.credits == ()
    assert stored.feature("m").usage.current_usage == 7


# --- cache down (Redis-style failure) -----------------------------------------------------------------------

class UnreachableCache(MemoryEntitlementCache):
    async def get(self, key):
        raise CacheUnavailableError("cache down")


async def test_unreachable_cache_reads_live_without_writing(source, clock, telemetry):
    cache = UnreachableCache(max_bytes=1 << 20)
    loader = LoadEntitlements(cache, source, clock, telemetry)
    source.serve(entitlement_set(boolean("sso")))
    loaded = await loader.execute(ACME, BUDGET)
    assert loaded.source is Source.LIVE and len(cache) == 0
    source.fail()
    assert await loader.execute(ACME, BUDGET) is None


async def test_with_the_cache_unreachable_concurrent_misses_share_one_fetch(source, clock, telemetry):
    loader = LoadEntitlements(UnreachableCache(max_bytes=1 << 20), source, clock, telemetry)
    source.serve(entitlement_set(boolean("sso")))
    gate = source.hold()
    impatient = asyncio.ensure_future(loader.execute(ACME, Budget(1000.02)))  # 20 ms
    readers = [asyncio.ensure_future(loader.execute(ACME, BUDGET)) for _ in range(50)]
    assert await impatient is None  # its deadline stops only it waiting
    gate.set()
    loaded = await asyncio.gather(*readers)
    assert all(r.source is Source.LIVE for r in loaded) and len(source.calls) == 1


class UnwritableCache(MemoryEntitlementCache):
    async def put(self, entitlements, token):
        raise CacheUnavailableError("cache down")


async def test_failed_cache_write_still_answers_with_the_fetch(source, clock, telemetry):
    loader = LoadEntitlements(UnwritableCache(max_bytes=1 << 20), source, clock, telemetry)
    source.serve(entitlement_set(boolean("sso")))
    loaded = await loader.execute(ACME, BUDGET)
    assert loaded.source is Source.LIVE and loaded.entitlements.feature("sso") is not None
