"""The Outbox port's contract, run against every implementation: the in-memory fake,
the file outbox (tmp_path) and the Redis stream outbox (a private redis-server).

Adapter-specific behaviour (crash recovery, segments, shared streams, reclaiming, …) is
tested next to each adapter: tests/integration/test_file_outbox.py and
tests/integration/redis/test_redis_outbox.py.
"""
from __future__ import annotations

import uuid

import pytest

from adapters.outbound.file_outbox import FileOutbox
from adapters.outbound.redis_outbox import RedisStreamOutbox
from domain.model.identifiers import CustomerKey
from domain.model.reports import Event
from ports.event_outbox import EventOutbox, OutboxFullError
from tests.fakes import FixedClock
from tests.fakes.outbox import InMemoryEventOutbox, outbox_event, outbox_events, outbox_keys
from tests.support.redis_server import RedisServer, close_client, redis_client

MiB = 1024 * 1024
CAPACITY = 64 * MiB


event, events, keys = outbox_event, outbox_events, outbox_keys


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock("2025-07-10T15:30:00Z")


@pytest.fixture(scope="module")
def contract_redis():
    """A private redis-server for this module (started only if a Redis case runs)."""
    with RedisServer() as server:
        yield server


@pytest.fixture(params=[pytest.param("memory", id="memory"), pytest.param("file", id="file"),
                        pytest.param("redis", id="redis")])
async def any_outbox(request, tmp_path, clock):
    if request.param == "memory":
        yield InMemoryEventOutbox(clock, max_bytes=CAPACITY)
    elif request.param == "file":
        outbox = await FileOutbox.open(tmp_path / "outbox", max_bytes=CAPACITY, clock=clock)
        yield outbox
        await outbox.close()
    else:
        server = request.getfixturevalue("contract_redis")
        client = redis_client(server)
        outbox = await RedisStreamOutbox.open(client, prefix=f"contract-{uuid.uuid4().hex[:8]}",
                                              max_bytes=CAPACITY, clock=clock)
        yield outbox
        await outbox.close()
        await client.flushdb()
        await close_client(client)


async def test_contract_peek_is_oldest_first_and_does_not_remove(any_outbox):
    await any_outbox.append(events(3))
    await any_outbox.append(events(2, start=3))
    assert keys(await any_outbox.peek(4)) == ["k-0", "k-1", "k-2", "k-3"]
    assert keys(await any_outbox.peek(10)) == [f"k-{i}" for i in range(5)]
    assert any_outbox.depth() == 5


async def test_contract_empty_outbox_peeks_nothing(any_outbox, clock):
    assert await any_outbox.peek(10) == []
    assert (any_outbox.depth(), any_outbox.bytes_used()) == (0, 0)
    assert any_outbox.oldest_age_s(clock.now_ms()) is None


async def test_contract_acknowledged_items_are_gone_and_unknown_ids_ignored(any_outbox):
    await any_outbox.append(events(5))
    items = await any_outbox.peek(10)
    await any_outbox.acknowledge([items[0][0], items[2][0], 10**9])
    await any_outbox.acknowledge([items[0][0]])
    assert keys(await any_outbox.peek(10)) == ["k-1", "k-3", "k-4"]
    assert any_outbox.depth() == 3


async def test_contract_acknowledging_everything_frees_every_byte(any_outbox, clock):
    await any_outbox.append(events(4))
    assert any_outbox.bytes_used() > 0
    await any_outbox.acknowledge([item_id for item_id, _ in await any_outbox.peek(10)])
    assert (any_outbox.depth(), any_outbox.bytes_used()) == (0, 0)
    assert any_outbox.oldest_age_s(clock.now_ms()) is None
    assert await any_outbox.peek(10) == []


async def test_contract_peek_bytes_bound_keeps_at_least_one(any_outbox):
    await any_outbox.append(events(3))
    assert keys(await any_outbox.peek(10, max_bytes=1)) == ["k-0"]
    assert keys(await any_outbox.peek(2)) == ["k-0", "k-1"]


async def test_contract_ids_increase_in_append_order(any_outbox):
    await any_outbox.append(events(3))
    await any_outbox.append(events(2, start=3))
    ids = [item_id for item_id, _ in await any_outbox.peek(10)]
    assert ids == sorted(ids) and len(set(ids)) == 5


async def test_contract_items_round_trip_every_field(any_outbox):
    sent = [
        Event("signup", CustomerKey("acme", "site-1"), "key-1",
              {"plan": "pro", "seats": 3.0, "trial": True, "count": 7}, 1752161400000),
        Event("ünïcødé ✓", CustomerKey("cust \"quoted\"\n"), "key-2"),
        Event("login", CustomerKey("acme"), "key-3", {"emoji": "🎉", "neg": -1.5}),
    ]
    await any_outbox.append(sent)
    assert [e for _, e in await any_outbox.peek(10)] == sent


async def test_contract_oldest_age_follows_the_oldest_unacknowledged(any_outbox, clock):
    assert any_outbox.oldest_age_s(clock.now_ms()) is None
    await any_outbox.append(events(1))
    clock.advance(2000)
    await any_outbox.append(events(1, start=1))
    clock.advance(500)
    assert any_outbox.oldest_age_s(clock.now_ms()) == 2.5
    first = (await any_outbox.peek(1))[0][0]
    await any_outbox.acknowledge([first])
    assert any_outbox.oldest_age_s(clock.now_ms()) == 0.5


async def test_contract_full_outbox_refuses_the_whole_call(any_outbox):
    used = any_outbox.bytes_used()
    with pytest.raises(OutboxFullError) as caught:
        await any_outbox.append([event(0, dimensions={"blob": "x" * (65 * MiB)})])
    assert caught.value.used_bytes == used
    assert caught.value.capacity_bytes == CAPACITY
    assert any_outbox.depth() == 0


async def test_contract_a_call_that_does_not_fit_queues_nothing_of_it(any_outbox):
    await any_outbox.append(events(2))
    used = any_outbox.bytes_used()
    blob = "x" * (CAPACITY - used - 60)  # the three events need more than 60 bytes besides
    with pytest.raises(OutboxFullError):
        await any_outbox.append([event("a"), event("big", dimensions={"blob": blob}), event("z")])
    assert any_outbox.bytes_used() == used
    assert keys(await any_outbox.peek(10)) == ["k-0", "k-1"]


async def test_contract_is_the_port(any_outbox):
    assert isinstance(any_outbox, EventOutbox)
