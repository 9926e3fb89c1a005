"""RedisStreamOutbox against a real redis-server: what the port's contract does not cover
(that is tests/contract/test_event_outbox_contract.py): several instances ("sidecars")
on one stream, reclaiming a dead instance's items, releasing them on close, Redis down
or paused, a restart with AOF, damaged entries, ids, and Redis's own OOM refusal."""
from __future__ import annotations

import asyncio
import collections
import logging
import uuid

import pytest

from adapters.inbound.error_policy import FailureKind, classify
from adapters.outbound.redis_outbox import (
    GROUP,
    SEQ_BITS,
    RedisStreamOutbox,
    to_item_id,
    to_stream_id,
)
from adapters.outbound.system_clock import SystemClock
from ports.event_outbox import OutboxFullError, OutboxUnavailableError
from tests.support.redis_server import RedisServer, close_client, redis_client
from tests.fakes.outbox import outbox_event, outbox_events, outbox_keys

MiB = 1024 * 1024
AOF = ("--appendonly", "yes", "--appendfsync", "always")


event, events, keys = outbox_event, outbox_events, outbox_keys


class Outboxes:
    """Builds outboxes, each on its own client like separate sidecars; closes them after."""

    def __init__(self, server: RedisServer) -> None:
        self.server = server
        self.prefix = f"outbox-{uuid.uuid4().hex[:8]}"
        self.clients: list = []
        self.made: list[RedisStreamOutbox] = []

    def client(self, **options):
        client = redis_client(self.server, **options)
        self.clients.append(client)
        return client

    async def __call__(self, *, client=None, **options) -> RedisStreamOutbox:
        options = {"prefix": self.prefix, "max_bytes": 64 * MiB, "clock": SystemClock()} | options
        outbox = await RedisStreamOutbox.open(client or self.client(), **options)
        self.made.append(outbox)
        return outbox

    @property
    def stream(self) -> str:
        return f"{self.prefix}:outbox:events"

    async def close(self) -> None:
        for outbox in self.made:
            try:
                await outbox.close()
            except Exception:  # noqa: BLE001 - the server may be gone by now
                pass
        for client in self.clients:
            await close_client(client)


@pytest.fixture
async def make(redis_server, client):
    outboxes = Outboxes(redis_server)
    yield outboxes
    await outboxes.close()


@pytest.fixture
async def make_faulty(fault_server):
    outboxes = Outboxes(fault_server)
    yield outboxes
    await outboxes.close()


async def deliver_all(outbox: RedisStreamOutbox, delivered: list[str], stop: asyncio.Event) -> None:
    """A sender: peek a batch, 'send' it (record the keys), acknowledge; until stopped."""
    while not stop.is_set():
        items = await outbox.peek(25)
        if not items:
            await asyncio.sleep(0.01)
            continue
        delivered.extend(keys(items))
        await outbox.acknowledge([item_id for item_id, _ in items])


# --- several sidecars on one stream ---------------------------------------------------

async def test_two_instances_on_one_stream_deliver_each_item_once(make):
    first, second = await make(), await make()
    sent = [f"a-{i}" for i in range(300)] + [f"b-{i}" for i in range(300)]
    by_first, by_second = [], []
    stop = asyncio.Event()
    senders = [asyncio.create_task(deliver_all(first, by_first, stop)),
               asyncio.create_task(deliver_all(second, by_second, stop))]
    await asyncio.gather(*(first.append(events(10, start=i, prefix="a")) for i in range(0, 300, 10)),
                         *(second.append(events(10, start=i, prefix="b")) for i in range(0, 300, 10)))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while len(by_first) + len(by_second) < 600 and loop.time() < deadline:
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.gather(*senders)
    counts = collections.Counter(by_first + by_second)
    assert set(counts) == set(sent)
    assert max(counts.values()) == 1, "an item was delivered twice"
    assert by_first and by_second, "both instances deliver"
    await first.refresh()
    assert (first.depth(), first.bytes_used()) == (0, 0)


async def test_the_capacity_is_shared_by_every_instance(make):
    one = await make(max_bytes=4000)
    other = await make(max_bytes=4000)
    accepted = 0
    with pytest.raises(OutboxFullError):
        for i in range(1000):
            await one.append([event(i)])
            accepted += 1
    assert accepted > 10
    with pytest.raises(OutboxFullError) as caught:
        await other.append([event("other")])
    assert caught.value.used_bytes == one.bytes_used() <= 4000
    assert caught.value.capacity_bytes == 4000
    items = await one.peek(5)
    await one.acknowledge([item_id for item_id, _ in items])
    await other.append([event("other")])
    assert other.depth() == accepted - 5 + 1


async def test_the_gauges_describe_the_shared_stream(make):
    one, other = await make(), await make()
    await one.append(events(3))
    await other.append(events(2, start=3))
    await one.refresh()
    assert one.depth() == other.depth() == 5
    assert one.bytes_used() == other.bytes_used() > 0


# --- dead, live and closing instances -------------------------------------------------

async def test_items_a_dead_instance_had_read_are_reclaimed_after_the_idle_time(make):
    dead = await make(claim_idle_ms=2000)
    await dead.append(events(10))
    assert len(await dead.peek(10)) == 10  # read, never acknowledged: the process dies here
    survivor = await make(claim_idle_ms=2000)
    assert await survivor.peek(10) == [], "taken before the idle time"
    assert survivor.depth() == 10
    await asyncio.sleep(2.5)
    items = await survivor.peek(10)
    assert keys(items) == [f"k-{i}" for i in range(10)]
    await survivor.acknowledge([item_id for item_id, _ in items])
    assert survivor.depth() == 0
    assert await dead.peek(10) == [], "the dead instance's claim is gone"


async def test_a_live_instance_that_keeps_peeking_keeps_its_batch(make):
    holder = await make(claim_idle_ms=4000)
    other = await make(claim_idle_ms=4000)
    await holder.append(events(5))
    for _ in range(6):  # e.g. retrying while the upstream is down: peeks every second
        assert len(await holder.peek(5)) == 5
        await asyncio.sleep(1.0)
        assert await other.peek(5) == []


async def test_close_hands_pending_items_to_the_others_at_once(make, client):
    leaving = await make()
    await leaving.append(events(5))
    await leaving.peek(5)
    await leaving.close()
    staying = await make()  # default claim idle (2 minutes): no waiting for it
    assert keys(await staying.peek(10)) == [f"k-{i}" for i in range(5)]
    names = {c["name"].decode() for c in await client.xinfo_consumers(make.stream, GROUP)}
    assert leaving.consumer not in names


async def test_a_peeked_item_cut_by_the_byte_bound_comes_first_next_time(make):
    outbox = await make()
    await outbox.append(events(3))
    assert keys(await outbox.peek(10, max_bytes=1)) == ["k-0"]
    other = await make(claim_idle_ms=60_000)
    assert await other.peek(10) == []  # the rest was read into the first instance
    assert keys(await outbox.peek(10)) == ["k-0", "k-1", "k-2"]


# --- Redis unavailable ----------------------------------------------------------------

async def test_redis_down_append_raises_unavailable_and_nothing_is_dropped(make_faulty, fault_server):
    outbox = await make_faulty(skip_s=0.2)
    await outbox.append(events(2))
    fault_server.kill()
    with pytest.raises(OutboxUnavailableError) as caught:
        await outbox.append(events(1, start=2))
    failure = classify("ReportEvents", caught.value)
    assert failure is not None and failure.kind is FailureKind.UNAVAILABLE
    assert "event outbox unavailable" in failure.message
    with pytest.raises(OutboxUnavailableError):
        await outbox.peek(10)
    with pytest.raises(OutboxUnavailableError):
        await outbox.acknowledge([1])
    fault_server.start()  # empty again (no persistence on this server)
    await asyncio.sleep(0.3)  # past the skip window
    for _ in range(3):  # the first command may land on a connection of the old server
        try:
            await outbox.append(events(1, start=3))
            break
        except OutboxUnavailableError:
            await asyncio.sleep(0.3)
    assert keys(await outbox.peek(10)) == ["k-3"]


async def test_redis_unreachable_at_open_is_not_fatal(make_faulty, fault_server):
    fault_server.kill()
    outbox = await make_faulty()
    assert outbox.depth() == 0
    with pytest.raises(OutboxUnavailableError):
        await outbox.append(events(1))


async def test_a_paused_redis_times_out_as_unavailable(make_faulty, fault_server):
    outbox = await make_faulty(command_timeout_s=0.5,
                               client=make_faulty.client(timeout_s=0.5))
    await outbox.append(events(1))
    loop = asyncio.get_running_loop()
    with fault_server.paused():
        started = loop.time()
        with pytest.raises(OutboxUnavailableError):
            await outbox.append(events(1, start=1))
        assert loop.time() - started < 3.0


async def test_redis_out_of_memory_is_outbox_full_and_atomic(make_faulty):
    admin = make_faulty.client()
    await admin.config_set("maxmemory-policy", "noeviction")
    outbox = await make_faulty()
    await admin.config_set("maxmemory", str(await used_memory(admin) + 2 * MiB))
    accepted = 0
    with pytest.raises(OutboxFullError):
        for i in range(100):
            await outbox.append([event(i, dimensions={"blob": "x" * (200 * 1024)})])
            accepted += 1
    await admin.config_set("maxmemory", "0")
    assert 0 < accepted < 100
    assert len(await outbox.peek(1000)) == accepted == outbox.depth()


async def used_memory(client) -> int:
    return int((await client.info("memory"))["used_memory"])


# --- durability across a Redis restart ------------------------------------------------

async def test_a_restart_of_redis_with_aof_keeps_queued_items_and_acknowledgements():
    with RedisServer(args=AOF) as server:
        outboxes = Outboxes(server)
        try:
            before = await outboxes()
            await before.append(events(50))
            items = await before.peek(20)
            await before.acknowledge([item_id for item_id, _ in items[:10]])
            used, depth = before.bytes_used(), before.depth()
            server.kill()  # SIGKILL: only what the AOF holds survives
            server.start()
            after = await outboxes(client=outboxes.client(), claim_idle_ms=500)
            assert (after.depth(), after.bytes_used()) == (depth, used) == (40, used)
            await asyncio.sleep(0.7)  # the 10 read by the dead instance become claimable
            assert keys(await after.peek(100)) == [f"k-{i}" for i in range(10, 50)]
        finally:
            await outboxes.close()


# --- damaged entries and ids ----------------------------------------------------------

async def test_damaged_entries_are_dropped_and_logged(make, client, caplog):
    outbox = await make()
    await outbox.append(events(1))
    await client.xadd(make.stream, {"at": "1", "item": "not json"})
    await client.xadd(make.stream, {"other": "field"})
    await client.xadd(make.stream, {"at": "1", "item": '{"n": 5}'})
    await client.xadd(make.stream, {"at": "1", "item": "{}"}, id=f"{10**13}-{1 << SEQ_BITS}")  # unmappable id
    with caplog.at_level(logging.ERROR, logger="sidecar.outbox"):
        assert keys(await outbox.peek(10)) == ["k-0"]
    assert "damaged entries" in caplog.text
    assert outbox.depth() == 1
    assert outbox.bytes_used() >= 0
    await outbox.acknowledge([item_id for item_id, _ in await outbox.peek(10)])
    assert (outbox.depth(), outbox.bytes_used()) == (0, 0)


def test_item_ids_map_stream_ids_reversibly():
    for stream_id in ("0-0", "1752161400000-0", "1752161400000-1048575", "8796093022207-17"):
        item_id = to_item_id(stream_id)
        assert to_stream_id(item_id) == stream_id
        assert item_id < 2**63
    assert to_item_id("5-1") < to_item_id("5-2") < to_item_id("6-0")
    assert to_stream_id(-1) is None and to_stream_id(True) is None
    with pytest.raises(ValueError):
        to_item_id(f"5-{1 << SEQ_BITS}")


async def test_an_append_never_writes_a_sequence_number_beyond_the_id_bound(make, client):
    outbox = await make()
    future_ms = 10**13  # after every real clock: XADD * continues from this id
    await client.xadd(make.stream, {"at": "1", "item": "{}"}, id=f"{future_ms}-{(1 << SEQ_BITS) - 1}")
    await client.xdel(make.stream, f"{future_ms}-{(1 << SEQ_BITS) - 1}")
    await outbox.append(events(3))
    raw = [entry_id.decode() for entry_id, _ in await client.xrange(make.stream)]
    assert raw == [f"{future_ms + 1}-0", f"{future_ms + 1}-1", f"{future_ms + 1}-2"]
    assert keys(await outbox.peek(10)) == ["k-0", "k-1", "k-2"]
