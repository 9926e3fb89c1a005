"""The contract of the ``RealtimeUpdates`` port, run against every implementation.

To cover a new adapter, add one line to ``ADAPTERS``: an async context manager that
takes a running Stigg emulator and yields a ``Harness``: the adapter, ``ready()``
(awaited after the first ``FeedLive``, until pushes can reach it) and the upstream
actions the suite needs (push an entitlements change, a usage change, a package
publication, a purge; drop the connection).

What every feed shares (ports/realtime_updates.py; upstream-api.md §9):
- the first event is ``FeedLive``; updates follow in the order upstream sent them;
- ``entitlementsUpdatedV2`` arrives as ``EntitlementsUpdated`` with the whole set for
  the (customer, resource), and its purge form (no entitlements, no reason) with
  ``purge=True``; ``usageUpdatedV2`` as ``UsageUpdated`` with the absolute usage;
  ``packagePublished`` as ``PackagePublished`` (``all_customers`` for ALL_CUSTOMERS);
- a lost connection is reported as ``FeedLost`` and, without anyone asking, followed by
  ``FeedLive`` again, after which updates arrive as before;
- closing the iteration ends it without an error.
"""
from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable

import pytest
from stigg_emulator import StiggEmulator, feature

from adapters.outbound.stigg_documents import SUBSCRIPTIONS
from adapters.outbound.stigg_payloads import read_entitlements_state
from adapters.outbound.stigg_ws import WsRealtimeUpdates, WsTiming
from domain.model.entitlement import EntitlementSet, Usage
from domain.model.identifiers import CustomerKey
from domain.model.realtime import (
    EntitlementsUpdated,
    FeedLive,
    FeedLost,
    PackagePublished,
    RealtimeEvent,
    UsageUpdated,
)
from domain.model.reports import UsageTarget
from ports.realtime_updates import RealtimeUpdates
from ports.telemetry import NullTelemetry
from tests.fakes import FakeRealtimeUpdates, epoch_ms
from tests.support.sidecar import PinnedWallClock

from support.sidecar import API_KEY  # the shared emulator fixture's key
ACME = CustomerKey("acme")
ACME_R1 = CustomerKey("acme", "res-1")
UPDATED_AT = "2025-07-10T15:29:00.000Z"
PERIOD = ("2025-07-01T00:00:00.000Z", "2025-08-01T00:00:00.000Z")
#: Longest wait for one event, in seconds.
EVENT_TIMEOUT_S = 5.0


@dataclass
class Harness:
    updates: RealtimeUpdates
    ready: Callable[[], Awaitable[None]]
    #: (key, upstream-shaped entitlement items)
    push_entitlements: Callable[[CustomerKey, list[dict[str, Any]]], None]
    #: (key, feature ref id, current usage); period PERIOD, updated at UPDATED_AT
    push_usage: Callable[[CustomerKey, str, float], None]
    #: migration type: ALL_CUSTOMERS or NEW_CUSTOMERS
    publish_package: Callable[[str], None]
    purge: Callable[[CustomerKey], None]
    drop_connection: Callable[[], None]


# --- adapters (one line each in ADAPTERS) ---------------------------------------------------


@contextlib.asynccontextmanager
async def websocket_feed(emu: StiggEmulator) -> AsyncIterator[Harness]:
    updates = WsRealtimeUpdates(
        ws_url=f"ws://127.0.0.1:{emu.port}", api_key=API_KEY, instance_id="contract",
        user_agent="contract-tests", clock=PinnedWallClock(), telemetry=NullTelemetry(),
        timing=WsTiming(ping_interval_s=1.0, dead_after_s=3.0, backoff_initial_s=0.05,
                        backoff_max_s=0.2),
    )

    async def ready() -> None:
        # Every subscription of the latest connection is registered upstream.
        wanted = len(SUBSCRIPTIONS) * emu.ws_connections
        while len(emu.ws_subscriptions) < wanted or emu.ws_live_clients() == 0:
            await asyncio.sleep(0.01)

    yield Harness(
        updates, ready,
        push_entitlements=lambda key, items: emu.push_entitlements(
            key.customer_id, items, key.resource_id),
        push_usage=lambda key, ref, current: emu.push_usage(
            key.customer_id, ref, current, key.resource_id, usage_period_start=PERIOD[0],
            usage_period_end=PERIOD[1], usage_updated_at=UPDATED_AT),
        publish_package=lambda migration: emu.publish_package(migration),
        purge=lambda key: emu.purge_customer(key.customer_id, key.resource_id),
        drop_connection=lambda: emu.ws_close_all(1011, "contract drop"),
    )


@contextlib.asynccontextmanager
async def fake_feed(emu: StiggEmulator) -> AsyncIterator[Harness]:
    fake = FakeRealtimeUpdates()
    now = PinnedWallClock().now_ms()

    async def ready() -> None:
        return None

    def entitlements(key: CustomerKey, items: list[dict[str, Any]]) -> None:
        state = {"accessDeniedReason": None, "entitlementsV2": items}
        fake.push(EntitlementsUpdated(read_entitlements_state(key, state, now)))

    def usage(key: CustomerKey, ref: str, current: float) -> None:
        fake.push(UsageUpdated(key, UsageTarget.FEATURE, ref, Usage(
            current, epoch_ms(PERIOD[0]), epoch_ms(PERIOD[1]), epoch_ms(UPDATED_AT))))

    yield Harness(
        fake, ready, entitlements, usage,
        publish_package=lambda migration: fake.push(PackagePublished(migration == "ALL_CUSTOMERS")),
        purge=lambda key: fake.push(EntitlementsUpdated(EntitlementSet(key), purge=True)),
        drop_connection=fake.lose,
    )


ADAPTERS = [
    pytest.param(websocket_feed, id="websocket"),
    pytest.param(fake_feed, id="fake"),
]




@pytest.fixture(params=ADAPTERS)
async def harness(request, emulator) -> AsyncIterator[Harness]:
    async with request.param(emulator) as built:
        yield built


class Feed:
    """One iteration of ``events()``, read with a timeout per event."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self._events = harness.updates.events()

    async def next(self) -> RealtimeEvent:
        return await asyncio.wait_for(anext(self._events), EVENT_TIMEOUT_S)

    async def live(self) -> None:
        assert isinstance(await self.next(), FeedLive)
        await asyncio.wait_for(self.harness.ready(), EVENT_TIMEOUT_S)

    async def close(self) -> None:
        await self._events.aclose()


@pytest.fixture
async def feed(harness) -> AsyncIterator[Feed]:
    opened = Feed(harness)
    try:
        yield opened
    finally:
        await opened.close()


# --- the contract ---------------------------------------------------------------------------


def test_adapter_implements_the_port(harness):
    assert isinstance(harness.updates, RealtimeUpdates)


async def test_the_first_event_is_feed_live(feed):
    assert isinstance(await feed.next(), FeedLive)


async def test_an_entitlements_change_arrives_as_the_whole_set(feed):
    await feed.live()
    feed.harness.push_entitlements(ACME, [
        feature("sso"), feature("api-calls", "NUMBER", "Incremental", usageLimit=100)])
    event = await feed.next()
    assert isinstance(event, EntitlementsUpdated) and event.purge is False
    assert event.entitlements.key == ACME
    assert [f.feature.id for f in event.entitlements.features] == ["sso", "api-calls"]
    assert event.entitlements.feature("api-calls").usage_limit == 100


async def test_a_resource_change_carries_the_resource_key(feed):
    await feed.live()
    feed.harness.push_entitlements(ACME_R1, [feature("sso")])
    event = await feed.next()
    assert isinstance(event, EntitlementsUpdated) and event.entitlements.key == ACME_R1


async def test_the_purge_form_arrives_as_a_purge(feed):
    await feed.live()
    feed.harness.purge(ACME)
    event = await feed.next()
    assert isinstance(event, EntitlementsUpdated) and event.purge is True
    assert event.entitlements.key == ACME and event.entitlements.features == ()


async def test_a_usage_change_arrives_as_absolute_usage(feed):
    await feed.live()
    feed.harness.push_usage(ACME, "api-calls", 7)
    event = await feed.next()
    assert isinstance(event, UsageUpdated)
    assert (event.key, event.target, event.ref_id) == (ACME, UsageTarget.FEATURE, "api-calls")
    assert event.usage == Usage(7, epoch_ms(PERIOD[0]), epoch_ms(PERIOD[1]), epoch_ms(UPDATED_AT))


@pytest.mark.parametrize("migration,all_customers", [("ALL_CUSTOMERS", True), ("NEW_CUSTOMERS", False)])
async def test_a_package_publication_says_whom_it_migrates(feed, migration, all_customers):
    await feed.live()
    feed.harness.publish_package(migration)
    event = await feed.next()
    assert event == PackagePublished(all_customers)


async def test_updates_arrive_in_the_order_sent(feed):
    await feed.live()
    for current in (1, 2, 3):
        feed.harness.push_usage(ACME, "api-calls", current)
    got = [await feed.next() for _ in range(3)]
    assert [e.usage.current_usage for e in got] == [1, 2, 3]


async def test_a_lost_connection_is_reported_then_live_again_by_itself(feed):
    await feed.live()
    feed.harness.drop_connection()
    assert isinstance(await feed.next(), FeedLost)
    await feed.live()
    feed.harness.push_usage(ACME, "api-calls", 9)
    event = await feed.next()
    assert isinstance(event, UsageUpdated) and event.usage.current_usage == 9


async def test_closing_the_iteration_ends_it_cleanly(harness):
    opened = Feed(harness)
    await opened.live()
    await opened.close()
    with pytest.raises(StopAsyncIteration):
        await opened.next()
