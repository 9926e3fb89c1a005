"""The contracts of the ``UsageReporter`` and ``EventReporter`` ports, run against every
implementation.

To cover a new adapter, add one line to ``USAGE_ADAPTERS`` or ``EVENT_ADAPTERS``: an
async context manager that takes a running Stigg emulator (loaded with ``SCENARIO``)
and yields a ``Harness``: the reporter, plus hooks that break its upstream and read
back what reached it (``None`` when there is no upstream, as for the offline
reporters; the tests needing them are then skipped).

What every usage reporter shares (ports/usage_reporter.py; upstream-api.md §5):
- one ack per item, in request order, each with a measurement id and the item's
  (customer, resource) and feature; no items, no acks;
- the item's idempotency key is what upstream receives;
- an unavailable upstream raises ``UpstreamUnavailableError``; a spent budget returns
  or fails at once.
What every event reporter shares: events reach upstream with their idempotency keys and
dimensions; no events, nothing sent; the same failures.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable

import httpx
import pytest
from stigg_emulator import StiggEmulator, customer, feature, snapshot

from adapters.outbound.offline import OfflineEventReporter, OfflineUsageReporter
from adapters.outbound.stigg_graphql import GraphqlEventReporter, GraphqlUsageReporter
from domain.model.budget import Budget
from domain.model.identifiers import CustomerKey
from domain.model.kinds import UsageUpdateBehavior
from domain.model.reports import Event, UsageReport
from ports.errors import UpstreamError, UpstreamUnavailableError
from ports.telemetry import NullTelemetry
from ports.usage_reporter import EventReporter, UsageReporter
from tests.fakes import FakeEventReporter, FakeUsageReporter, epoch_ms
from tests.support.sidecar import PinnedWallClock

from support.sidecar import API_KEY  # the shared emulator fixture's key
from tests.support.http_transport import production_http_transport
ACME = CustomerKey("acme")
ACME_R1 = CustomerKey("acme", "res-1")
METERED = dict(usageLimit=1000, currentUsage=10, usagePeriodStart="2025-07-01T00:00:00.000Z",
               usagePeriodEnd="2025-08-01T00:00:00.000Z")
SCENARIO = snapshot(
    customer("acme", [feature("api-calls", "NUMBER", "Incremental", **METERED),
                      feature("messages", "NUMBER", "Incremental", **METERED)]),
    customer("acme", [feature("api-calls", "NUMBER", "Incremental", **METERED)],
             resource_id="res-1"),
)


@dataclass
class Harness:
    reporter: Any
    #: Make the upstream answer 503 to every write; ``None``: no upstream.
    break_upstream: Callable[[], None] | None = None
    #: Idempotency keys of the items (or events) that reached upstream, in order.
    received_keys: Callable[[], list[str]] | None = None
    #: Dimensions of the events that reached upstream, in order.
    received_dimensions: Callable[[], list[dict[str, Any]]] | None = None


def _wiring(emu: StiggEmulator) -> dict:
    return dict(api_url=emu.base_url, api_key=API_KEY, instance_id="contract",
                user_agent="contract-tests", clock=PinnedWallClock(), telemetry=NullTelemetry())


def _break(emu: StiggEmulator) -> Callable[[], None]:
    return lambda: emu.set_fault("status", target="graphql", status=503)


# --- adapters (one line each in USAGE_ADAPTERS / EVENT_ADAPTERS) ---------------------------


@contextlib.asynccontextmanager
async def graphql_usage(emu: StiggEmulator) -> AsyncIterator[Harness]:
    async with production_http_transport() as http:
        yield Harness(GraphqlUsageReporter(http, **_wiring(emu)), _break(emu),
                      lambda: [i["idempotencyKey"] for i in emu.usage_inputs])


@contextlib.asynccontextmanager
async def offline_usage(emu: StiggEmulator) -> AsyncIterator[Harness]:
    yield Harness(OfflineUsageReporter())


@contextlib.asynccontextmanager
async def fake_usage(emu: StiggEmulator) -> AsyncIterator[Harness]:
    fake = FakeUsageReporter()
    yield Harness(fake, lambda: fake.fail_on_call(len(fake.calls), UpstreamUnavailableError("down")),
                  lambda: [i.idempotency_key for i in fake.sent])


@contextlib.asynccontextmanager
async def graphql_events(emu: StiggEmulator) -> AsyncIterator[Harness]:
    async with production_http_transport() as http:
        yield Harness(GraphqlEventReporter(http, **_wiring(emu)), _break(emu),
                      lambda: [e["idempotencyKey"] for e in emu.events_received],
                      lambda: [e.get("dimensions") or {} for e in emu.events_received])


@contextlib.asynccontextmanager
async def offline_events(emu: StiggEmulator) -> AsyncIterator[Harness]:
    yield Harness(OfflineEventReporter())


@contextlib.asynccontextmanager
async def fake_events(emu: StiggEmulator) -> AsyncIterator[Harness]:
    fake = FakeEventReporter()
    yield Harness(fake, lambda: fake.fail_on_call(len(fake.calls), UpstreamUnavailableError("down")),
                  lambda: [e.idempotency_key for e in fake.sent],
                  lambda: [dict(e.dimensions) for e in fake.sent])


USAGE_ADAPTERS = [
    pytest.param(graphql_usage, id="graphql"),
    pytest.param(offline_usage, id="offline"),
    pytest.param(fake_usage, id="fake"),
]
EVENT_ADAPTERS = [
    pytest.param(graphql_events, id="graphql"),
    pytest.param(offline_events, id="offline"),
    pytest.param(fake_events, id="fake"),
]




@pytest.fixture
def emulator_scenario():
    return SCENARIO


@pytest.fixture(params=USAGE_ADAPTERS)
async def usage(request, emulator) -> AsyncIterator[Harness]:
    async with request.param(emulator) as built:
        yield built


@pytest.fixture(params=EVENT_ADAPTERS)
async def events(request, emulator) -> AsyncIterator[Harness]:
    async with request.param(emulator) as built:
        yield built


def budget(seconds: float = 5.0) -> Budget:
    return Budget.starting(time.monotonic(), seconds)


def item(key: CustomerKey = ACME, feature_id: str = "api-calls", value: float = 1, n: int = 0,
         **fields) -> UsageReport:
    return UsageReport(key=key, feature_id=feature_id, value=value,
                       idempotency_key=f"usage-{key.customer_id}-{feature_id}-{n}", **fields)


def event(n: int = 0, **fields) -> Event:
    return Event(event_name="export", key=ACME, idempotency_key=f"event-{n}", **fields)


# --- usage reporting ------------------------------------------------------------------------


def test_usage_adapter_implements_the_port(usage):
    assert isinstance(usage.reporter, UsageReporter)


async def test_one_item_gets_one_ack_naming_it(usage):
    (ack,) = await usage.reporter.report([item(value=5)], budget())
    assert ack.measurement_id
    assert (ack.key, ack.feature_id) == (ACME, "api-calls")


async def test_acks_come_in_request_order(usage):
    items = [item(feature_id="api-calls", n=1), item(feature_id="messages", n=2),
             item(key=ACME_R1, feature_id="api-calls", n=3)]
    acks = await usage.reporter.report(items, budget())
    assert [(a.key, a.feature_id) for a in acks] == [(i.key, i.feature_id) for i in items]
    assert len({a.measurement_id for a in acks}) == 3


async def test_no_items_no_acks(usage):
    assert await usage.reporter.report([], budget()) == []


async def test_behaviour_dimensions_and_time_are_accepted(usage):
    (ack,) = await usage.reporter.report([item(
        update_behavior=UsageUpdateBehavior.SET, dimensions={"region": "eu", "n": 2.0, "ok": True},
        timestamp_ms=epoch_ms("2025-07-10T15:00:00Z"))], budget())
    assert ack.feature_id == "api-calls"


async def test_the_items_idempotency_key_reaches_upstream(usage):
    if usage.received_keys is None:
        pytest.skip("no upstream to reach")
    await usage.reporter.report([item(n=7), item(feature_id="messages", n=8)], budget())
    assert usage.received_keys() == ["usage-acme-api-calls-7", "usage-acme-messages-8"]


async def test_an_unavailable_upstream_fails_a_usage_report(usage):
    if usage.break_upstream is None:
        pytest.skip("no upstream to lose")
    usage.break_upstream()
    with pytest.raises(UpstreamUnavailableError):
        await usage.reporter.report([item()], budget(1.0))


async def test_a_spent_budget_returns_or_fails_a_usage_report_at_once(usage):
    started = time.monotonic()
    with contextlib.suppress(UpstreamError):
        await usage.reporter.report([item()], Budget(time.monotonic()))
    assert time.monotonic() - started < 0.5


# --- event reporting ------------------------------------------------------------------------


def test_event_adapter_implements_the_port(events):
    assert isinstance(events.reporter, EventReporter)


async def test_events_reach_upstream_with_their_keys_and_dimensions(events):
    sent = [event(1, dimensions={"rows": 10.0}), event(2, dimensions={"format": "csv", "gz": True},
                                                       timestamp_ms=epoch_ms("2025-07-10T15:00:00Z"))]
    assert await events.reporter.report(sent, budget()) is None
    if events.received_keys is None:
        return
    assert events.received_keys() == ["event-1", "event-2"]
    assert events.received_dimensions() == [{"rows": 10.0}, {"format": "csv", "gz": True}]


async def test_no_events_nothing_sent(events):
    assert await events.reporter.report([], budget()) is None
    if events.received_keys is not None:
        assert events.received_keys() == []


async def test_an_unavailable_upstream_fails_an_event_report(events):
    if events.break_upstream is None:
        pytest.skip("no upstream to lose")
    events.break_upstream()
    with pytest.raises(UpstreamUnavailableError):
        await events.reporter.report([event()], budget(1.0))


async def test_a_spent_budget_returns_or_fails_an_event_report_at_once(events):
    started = time.monotonic()
    with contextlib.suppress(UpstreamError):
        await events.reporter.report([event()], Budget(time.monotonic()))
    assert time.monotonic() - started < 0.5
