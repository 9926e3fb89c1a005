"""The Redis cache's decode memo (redis_decode_memo): Redis stays the truth on every
read; unchanged bytes are not decoded again, and an unchanged value costs one MGET."""
from __future__ import annotations

from adapters.outbound import redis_cache
from adapters.outbound.redis_cache import MissReason
from adapters.outbound.redis_decode_memo import Decoded, DecodeMemo
from domain.model.entitlement import Usage
from domain.model.identifiers import CustomerKey
from domain.model.reports import UsageTarget
from tests.fakes.builders import boolean, entitlement_set, metered

ACME = CustomerKey("acme")


def sample(timestamp=1000, limit=100, key=ACME):
    return entitlement_set(boolean("sso"), metered("api-calls", limit=limit, current=7, start=10,
                                                   end=20, updated_at=900),
                           key=key, timestamp=timestamp)


async def mgets(client) -> int:
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_mget", {}).get("calls", 0))


async def test_unchanged_bytes_give_the_same_set_object_in_one_mget(make_cache, client):
    cache = make_cache()
    await cache.put(sample(), None)
    first = (await cache.get(ACME)).entitlements  # decodes; learns the usage key names
    before = await mgets(client)
    again = [(await cache.get(ACME)).entitlements for _ in range(3)]
    assert all(e is first for e in again)
    assert await mgets(client) - before == 3
    assert first == sample()


async def test_a_usage_change_by_another_sidecar_is_read(make_cache, client):
    reader, writer = make_cache(), make_cache()
    await writer.put(sample(), None)
    first = (await reader.get(ACME)).entitlements
    await writer.set_usage(ACME, UsageTarget.FEATURE, "api-calls", Usage(9, 10, 20, 950))
    changed = (await reader.get(ACME)).entitlements
    assert changed is not first and changed.feature("api-calls").usage.current_usage == 9


async def test_a_new_value_is_decoded_and_its_usage_keys_fetched(make_cache, client):
    reader, writer = make_cache(), make_cache()
    await writer.put(entitlement_set(boolean("sso"), key=ACME, timestamp=1000), None)
    assert (await reader.get(ACME)).entitlements.feature("api-calls") is None
    await writer.put(sample(timestamp=2000), None)
    now = (await reader.get(ACME)).entitlements
    assert now.feature("api-calls").usage.current_usage == 7 and now.timestamp_ms == 2000


async def test_a_deleted_usage_pair_is_still_a_torn_read(make_cache, client):
    cache = make_cache()
    await cache.put(sample(), None)
    await cache.get(ACME)
    await client.delete("test-env:c_acme:f_api-calls")
    read = await cache.read(ACME)
    assert read.entitlements is None and read.miss.name == "TORN_USAGE"


def test_the_memo_is_bounded_by_value_bytes():
    memo = DecodeMemo(max_bytes=10)
    for i in range(4):
        memo.put(CustomerKey(f"c{i}"), Decoded(b"abcd", (), (), {}, []))
    assert len(memo) == 2 and memo.size_bytes == 8
    assert memo.get(CustomerKey("c0")) is None and memo.get(CustomerKey("c3")) is not None
    memo.put(CustomerKey("big"), Decoded(b"x" * 11, (), (), {}, []))
    assert memo.get(CustomerKey("big")) is None


async def test_a_read_of_the_very_same_bytes_is_answered_without_decoding_again(
        make_cache, client, mocker):
    cache = make_cache()
    await cache.put(sample(), None)
    first = await cache.read(ACME)  # two MGETs: decodes, learns the usage key names
    stamps = mocker.spy(redis_cache, "decode_timestamp")
    second = await cache.read(ACME)  # one MGET of every key
    third = await cache.read(ACME)
    assert second is first and third is first
    assert stamps.call_count == 0  # nothing decoded: the bytes are those of the hit


async def test_a_changed_global_timestamp_still_older_is_a_new_read_of_the_same_set(
        make_cache, client):
    cache, resource = make_cache(), CustomerKey("acme", "r1")
    await cache.put(entitlement_set(boolean("sso"), key=ACME, timestamp=500), None)
    await cache.put(sample(key=resource), None)
    first = await cache.read(resource)
    assert (await cache.read(resource)) is first
    await client.set("test-env:c_acme#timestamp", b"600")  # the global set rewritten, still older
    again = await cache.read(resource)
    assert again is not first and again.entitlements == first.entitlements == sample(key=resource)
    assert (await cache.read(resource)) is again  # and those bytes are the hit from now on
    await client.set("test-env:c_acme#timestamp", b"2000")
    assert (await cache.read(resource)).miss is MissReason.GLOBAL_NEWER


async def test_after_identical_reads_any_changed_key_is_read_again(make_cache, client):
    cache = make_cache()
    await cache.put(sample(), None)
    first = [await cache.read(ACME) for _ in range(3)][-1]
    await client.set("test-env:c_acme:f_api-calls#timestamp", b"not a number")
    assert (await cache.read(ACME)).miss is MissReason.TORN_USAGE
    await client.set("test-env:c_acme:f_api-calls#timestamp", b"900")
    assert (await cache.read(ACME)) is first  # the very bytes again: the same hit
    await client.delete("test-env:c_acme#timestamp")
    assert (await cache.read(ACME)).miss is MissReason.NO_TIMESTAMP
