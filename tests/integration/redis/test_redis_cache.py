"""RedisEntitlementCache against a real redis-server: layout, values, ordering, reads.

reference: caching-and-redis.md §3.3-§3.6, §3.9, §3.10.
"""
from __future__ import annotations

import asyncio
import json
import random

import pytest

from adapters.outbound.redis_cache import MissReason
from domain.model.identifiers import CustomerKey
from domain.model.kinds import AccessDeniedReason
from domain.model.reports import UsageTarget
from domain.model.entitlement import Usage
from tests.fakes.builders import boolean, credit, entitlement_set, metered, numeric

ACME = CustomerKey("acme")
ACME_R1 = CustomerKey("acme", "r1")
K = "test-env:c_acme"
KR = "test-env:c_acme:r_r1"


def sample(key=ACME, timestamp=1000, **kw):
    return entitlement_set(
        boolean("sso"),
        numeric("seats", 5),
        metered("api-calls", limit=100, current=7, start=10, end=20, updated_at=kw.pop("usage_at", 900)),
        credit("usd", limit=50, current=3, end=30, updated_at=800),
        key=key, timestamp=timestamp, reason=kw.pop("reason", None),
    )


async def test_written_layout_and_formats(make_cache, client):
    cache = make_cache()
    await cache.put(sample(reason=AccessDeniedReason.NO_ACTIVE_SUBSCRIPTION), None)
    keys = sorted(k.decode() for k in await client.keys("*"))
    assert keys == sorted([
        K, f"{K}#timestamp", f"{K}:metadata", f"{K}:metadata#timestamp",
        f"{K}:f_api-calls", f"{K}:f_api-calls#timestamp",
        f"{K}:credit_usd", f"{K}:credit_usd#timestamp",
    ])
    value = json.loads(await client.get(K))
    assert value["format"] == 1
    assert [e["type"] for e in value["entitlements"]] == ["FEATURE"] * 3 + ["CREDIT"]
    assert "currentUsage" not in json.dumps(value)
    assert value["entitlements"][2]["feature"] == {
        "id": "api-calls", "featureType": "NUMBER", "meterType": "Incremental",
        "units": None, "unitsPlural": None, "displayName": None}
    assert json.loads(await client.get(f"{K}:metadata")) == {"accessDeniedReason": "NoActiveSubscription"}
    assert await client.get(f"{K}#timestamp") == b"1000"
    assert await client.get(f"{K}:metadata#timestamp") == b"1000"
    assert json.loads(await client.get(f"{K}:f_api-calls")) == {
        "currentUsage": 7, "usagePeriodStart": 10, "usagePeriodEnd": 20}
    assert await client.get(f"{K}:f_api-calls#timestamp") == b"900"
    assert json.loads(await client.get(f"{K}:credit_usd")) == {
        "currentUsage": 3, "usagePeriodStart": None, "usagePeriodEnd": 30}


async def test_usage_without_updated_at_gets_the_set_timestamp(make_cache, client):
    cache = make_cache()
    await cache.put(entitlement_set(metered("m", current=1), key=ACME, timestamp=1234), None)
    assert await client.get(f"{K}:f_m#timestamp") == b"1234"
    assert (await cache.get(ACME)).entitlements.feature("m").usage.updated_at_ms == 1234


async def test_ttl_is_set_on_every_key(make_cache, client):
    cache = make_cache(ttl_s=100)
    await cache.put(sample(), None)
    await cache.set_usage(ACME, UsageTarget.FEATURE, "api-calls", Usage(1, None, None, 5000))
    for key in await client.keys("*"):
        assert 0 < await client.ttl(key) <= 100, key


async def test_negative_ttl_means_no_expiry(make_cache, client):
    cache = make_cache(ttl_s=-1)
    await cache.put(sample(), None)
    await cache.set_usage(ACME, UsageTarget.FEATURE, "api-calls", Usage(1, None, None, 5000))
    keys = await client.keys("*")
    assert len(keys) == 8
    for key in keys:
        assert await client.ttl(key) == -1, key


def test_ttl_zero_is_rejected(make_cache):
    with pytest.raises(ValueError):
        make_cache(ttl_s=0)


async def test_flushall_makes_every_entry_a_miss(make_cache, client):
    cache = make_cache()
    await cache.put(sample(), None)
    await client.flushall()
    assert await cache.get(ACME) is None
    await cache.put(sample(), None)
    assert (await cache.get(ACME)).entitlements == sample()


@pytest.mark.parametrize("victim", [f"{K}:f_api-calls", f"{K}:f_api-calls#timestamp",
                                    f"{K}:credit_usd", f"{K}:credit_usd#timestamp"])
async def test_a_torn_usage_pair_is_a_miss(make_cache, client, victim):
    cache = make_cache()
    await cache.put(sample(), None)
    await client.delete(victim)
    read = await cache.read(ACME)
    assert read.entitlements is None and read.miss is MissReason.TORN_USAGE


async def test_unreadable_usage_or_timestamp_is_a_miss(make_cache, client):
    cache = make_cache()
    await cache.put(sample(), None)
    await client.set(f"{K}:f_api-calls", b"not json")
    assert await cache.get(ACME) is None
    await cache.put(sample(timestamp=1001, usage_at=901), None)
    assert await cache.get(ACME) is not None
    await client.set(f"{K}#timestamp", b"12x")
    assert (await cache.read(ACME)).miss is MissReason.NO_TIMESTAMP


async def test_a_missing_value_or_timestamp_is_a_miss(make_cache, client):
    cache = make_cache()
    await cache.put(sample(), None)
    await client.delete(f"{K}#timestamp")
    assert (await cache.read(ACME)).miss is MissReason.NO_TIMESTAMP
    await cache.put(sample(), None)
    await client.delete(K)
    assert (await cache.read(ACME)).miss is MissReason.ABSENT


async def test_missing_metadata_means_no_customer_reason(make_cache, client):
    cache = make_cache()
    await cache.put(sample(reason=AccessDeniedReason.CUSTOMER_IS_ARCHIVED), None)
    await client.delete(f"{K}:metadata")
    entry = await cache.get(ACME)
    assert entry.trusted and entry.entitlements.customer_reason is None


async def test_usage_of_features_not_in_the_set_is_never_read(make_cache, client):
    cache = make_cache()
    await cache.put(entitlement_set(boolean("sso"), key=ACME, timestamp=5), None)
    await client.set(f"{K}:f_ghost", b"garbage")
    assert (await cache.get(ACME)).entitlements == entitlement_set(boolean("sso"), key=ACME, timestamp=5)


# --- resource vs global ---------------------------------------------------------------


async def test_resource_entry_without_a_global_entry_is_a_miss(make_cache):
    cache = make_cache()
    await cache.put(sample(ACME_R1, 500), None)
    assert (await cache.read(ACME_R1)).miss is MissReason.GLOBAL_MISSING


@pytest.mark.parametrize("global_ts, hit", [(400, True), (500, True), (501, False)])
async def test_resource_entry_older_than_the_global_entry_is_a_miss(make_cache, global_ts, hit):
    cache = make_cache()
    await cache.put(sample(ACME, global_ts), None)
    await cache.put(sample(ACME_R1, 500), None)
    read = await cache.read(ACME_R1)
    assert (read.entitlements == sample(ACME_R1, 500)) if hit else (read.miss is MissReason.GLOBAL_NEWER)
    assert (await cache.get(ACME)).entitlements == sample(ACME, global_ts)


async def test_refetched_resource_entry_becomes_a_hit_again(make_cache):
    cache = make_cache()
    await cache.put(sample(ACME_R1, 500), None)
    await cache.put(sample(ACME, 600), None)
    assert await cache.get(ACME_R1) is None
    await cache.put(sample(ACME_R1, 600), None)
    assert (await cache.get(ACME_R1)).entitlements == sample(ACME_R1, 600)


# --- ordering under concurrency ----------------------------------------------------------


async def test_concurrent_writers_never_let_an_older_write_win(make_cache):
    """Two 'sidecars' write 200 versions in random order; every pair ends at its newest
    version, value and timestamp together."""
    first, second = make_cache(), make_cache()
    versions = list(range(1, 201))
    random.Random(7).shuffle(versions)

    def version(n: int, usage_n: int):
        return entitlement_set(
            metered("api-calls", limit=n, current=usage_n, updated_at=10_000 + usage_n),
            credit("usd", limit=n, current=usage_n, updated_at=10_000 + usage_n),
            key=ACME, timestamp=1000 + n,
        )

    rng = random.Random(11)
    usages = [rng.randint(1, 500) for _ in versions]
    await asyncio.gather(*(
        (first if i % 2 else second).put(version(n, u), None)
        for i, (n, u) in enumerate(zip(versions, usages))
    ))
    stored = (await first.get(ACME)).entitlements
    assert stored.timestamp_ms == 1200
    assert stored.feature("api-calls").usage_limit == 200
    for usage in (stored.feature("api-calls").usage, stored.credit("usd").usage):
        assert (usage.current_usage, usage.updated_at_ms) == (max(usages), 10_000 + max(usages))


async def test_concurrent_usage_writes_keep_the_newest(make_cache):
    first, second = make_cache(), make_cache()
    await first.put(sample(), None)
    stamps = list(range(1000, 1300))
    random.Random(3).shuffle(stamps)
    await asyncio.gather(*(
        (first if i % 2 else second).set_usage(
            ACME, UsageTarget.FEATURE, "api-calls", Usage(at - 1000, None, None, at))
        for i, at in enumerate(stamps)
    ))
    usage = (await second.get(ACME)).entitlements.feature("api-calls").usage
    assert (usage.current_usage, usage.updated_at_ms) == (299, 1299)


# --- set_usage and purge -------------------------------------------------------------------


async def test_set_usage_writes_only_while_the_entry_timestamp_exists(make_cache, client):
    cache = make_cache()
    await cache.put(sample(), None)
    await client.delete(f"{K}#timestamp")
    await cache.set_usage(ACME, UsageTarget.FEATURE, "api-calls", Usage(55, None, None, 5000))
    assert json.loads(await client.get(f"{K}:f_api-calls"))["currentUsage"] == 7


async def test_set_usage_on_a_non_metered_feature_writes_nothing(make_cache, client):
    cache = make_cache()
    await cache.put(sample(), None)
    before = set(await client.keys("*"))
    await cache.set_usage(ACME, UsageTarget.FEATURE, "seats", Usage(3, None, None, 5000))
    assert set(await client.keys("*")) == before


async def test_purge_deletes_the_set_and_leaves_usage_to_expire(make_cache, client):
    cache = make_cache()
    await cache.put(sample(), None)
    await cache.put(sample(ACME_R1, 2000), None)
    await cache.purge(ACME)
    remaining = {k.decode() for k in await client.keys(f"{K}*")}
    assert {K, f"{K}#timestamp", f"{K}:metadata", f"{K}:metadata#timestamp"}.isdisjoint(remaining)
    assert {f"{K}:f_api-calls", f"{K}:credit_usd#timestamp"} <= remaining
    assert await cache.get(ACME) is None
    assert (await cache.read(ACME_R1)).miss is MissReason.GLOBAL_MISSING


async def test_scripts_are_reloaded_after_script_flush(make_cache, client):
    cache = make_cache()
    await cache.put(sample(), None)
    await client.script_flush()
    await cache.put(sample(timestamp=2000), None)
    await cache.set_usage(ACME, UsageTarget.FEATURE, "api-calls", Usage(9, None, None, 5000))
    stored = (await cache.get(ACME)).entitlements
    assert stored.timestamp_ms == 2000 and stored.feature("api-calls").usage.current_usage == 9


async def test_prefixes_are_separate_environments(make_cache):
    prod, staging = make_cache(prefix="prod"), make_cache(prefix="staging")
    await prod.put(sample(), None)
    assert await staging.get(ACME) is None
    assert (await prod.get(ACME)).entitlements == sample()


async def _commands(client) -> dict[str, int]:
    stats = await client.info("commandstats")
    return {name.removeprefix("cmdstat_"): value["calls"] for name, value in stats.items()
            if name != "cmdstat_info"}


@pytest.mark.parametrize("entitlements, mgets", [
    (sample(ACME_R1, 5000), 2),
    (entitlement_set(boolean("sso"), numeric("seats", 1), key=ACME_R1, timestamp=5000), 1),
])
async def test_a_read_costs_at_most_two_mgets_and_nothing_else(make_cache, client, entitlements, mgets):
    cache = make_cache()
    await cache.put(sample(ACME, 10), None)
    await cache.put(entitlements, None)
    before = await _commands(client)
    assert (await cache.get(ACME_R1)).entitlements == entitlements
    after = await _commands(client)
    delta = {name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name, 0)}
    assert delta == {"mget": mgets}


async def test_a_batch_write_is_one_script_call(make_cache, client):
    cache = make_cache()
    await cache.put(sample(), None)  # loads the script on first use
    before = await _commands(client)
    await cache.put(sample(timestamp=2000), None)
    after = await _commands(client)
    delta = {name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name, 0)}
    assert delta.pop("evalsha") == 1
    assert set(delta) <= {"get", "set"}  # the commands the script runs inside Redis
