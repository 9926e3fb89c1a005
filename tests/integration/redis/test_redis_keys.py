"""Key layout (caching-and-redis.md §3.2) and id escaping: no two entries may share a key."""
from __future__ import annotations

import itertools

import pytest

from adapters.outbound.redis_keys import RedisKeys, escape_id
from domain.model.identifiers import CustomerKey
from tests.fakes.builders import credit, entitlement_set, metered

KEYS = RedisKeys("P")


def test_ordinary_ids_produce_exactly_the_reference_keys():
    entry = KEYS.entry(CustomerKey("acme-1", "res_2"))
    assert entry.value == "P:c_acme-1:r_res_2"
    assert entry.timestamp == "P:c_acme-1:r_res_2#timestamp"
    assert entry.metadata == "P:c_acme-1:r_res_2:metadata"
    assert entry.metadata_timestamp == "P:c_acme-1:r_res_2:metadata#timestamp"
    assert entry.global_timestamp == "P:c_acme-1#timestamp"
    assert entry.feature_usage("api-calls") == "P:c_acme-1:r_res_2:f_api-calls"
    assert entry.credit_usage("usd.credits") == "P:c_acme-1:r_res_2:credit_usd.credits"
    assert KEYS.entry(CustomerKey("acme-1")).value == "P:c_acme-1"
    assert KEYS.entry(CustomerKey("acme-1")).global_timestamp is None


def test_lock_and_channel_names():
    assert KEYS.lock(CustomerKey("acme")) == "P:refetchEntityEntitlementsAfterCacheMiss-acme"
    assert KEYS.lock(CustomerKey("acme", "r1")) == "P:refetchEntityEntitlementsAfterCacheMiss-acme:r1"
    assert KEYS.channel(CustomerKey("acme")) == "P:refetchEntityEntitlementsAfterCacheMiss:acme"
    assert KEYS.channel(CustomerKey("acme", "r1")) == "P:refetchEntityEntitlementsAfterCacheMiss:acme:r1"


@pytest.mark.parametrize("raw, escaped", [
    ("plain-Id_1.x@y*z", "plain-Id_1.x@y*z"),
    ("a:b", "a%3Ab"),
    ("x#timestamp", "x%23timestamp"),
    ("50%", "50%25"),
    ("two words", "two%20words"),
    ("tab\there\n", "tab%09here%0A"),
    ("del\x7f", "del%7F"),
    ("ünïcødé-客户", "ünïcødé-客户"),
    ("%3A", "%253A"),
])
def test_escaping_rule(raw, escaped):
    assert escape_id(raw) == escaped


TRICKY = ["a", "b", "a:r_b", "a:b", "a%3Ab", "x", "x#timestamp", "a:metadata", "a:f_b",
          "a:credit_b", "", " ", "a b", "a%", "*", "ü", "a:r_b:metadata", "r_b", "c_a"]


def _all_keys(key: CustomerKey, ids: list[str]) -> set[str]:
    entry = KEYS.entry(key)
    names = {entry.value, entry.timestamp, entry.metadata, entry.metadata_timestamp}
    for ref in ids:
        for usage in (entry.feature_usage(ref), entry.credit_usage(ref)):
            names |= {usage, usage + "#timestamp"}
    return names


def test_no_two_entries_share_any_key_or_lock():
    customers = [CustomerKey(c) for c in TRICKY if c] + [
        CustomerKey(c, r) for c, r in itertools.product(TRICKY[:8], TRICKY[:8]) if c and r
    ]
    owner: dict[str, CustomerKey] = {}
    for key in customers:
        for name in _all_keys(key, TRICKY):
            assert owner.setdefault(name, key) == key, f"{name!r} shared by {owner[name]} and {key}"
    locks = {KEYS.lock(key) for key in customers}
    channels = {KEYS.channel(key) for key in customers}
    assert len(locks) == len(channels) == len(customers)


def test_usage_keys_of_different_ids_never_meet_the_entry_keys():
    entry = KEYS.entry(CustomerKey("a"))
    fixed = {entry.value, entry.timestamp, entry.metadata, entry.metadata_timestamp}
    for ref in TRICKY:
        assert entry.feature_usage(ref) not in fixed
        assert entry.feature_usage(ref) + "#timestamp" not in fixed
        assert entry.feature_usage(ref) != entry.credit_usage(ref)


async def test_colliding_looking_customers_stay_apart_in_redis(make_cache, client):
    cache = make_cache()
    pairs = [
        (CustomerKey("a:r_b"), 11), (CustomerKey("a", "b"), 99),  # resource newer than "a"
        (CustomerKey("x#timestamp"), 21), (CustomerKey("x"), 22),
        (CustomerKey("a:metadata"), 31), (CustomerKey("a"), 32),
        (CustomerKey("50% off"), 41), (CustomerKey("50%25 off"), 42),
        (CustomerKey("客户 ü"), 51),
    ]
    for key, limit in pairs:
        await cache.put(entitlement_set(metered("m:f#x", limit=limit, current=limit, updated_at=5),
                                        credit("c#1", limit=limit, current=1, updated_at=5),
                                        key=key, timestamp=limit), None)
    for key, limit in pairs:
        entry = await cache.get(key)
        assert entry is not None, key
        assert entry.entitlements.feature("m:f#x").usage_limit == limit
        assert entry.entitlements.feature("m:f#x").usage.current_usage == limit
        assert entry.entitlements.timestamp_ms == limit
    assert b"test-env:c_a%3Ar_b" in await client.keys("*")
    assert await client.get("test-env:c_x#timestamp") == b"22"
