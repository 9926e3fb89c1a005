"""The contract of the ``EntitlementSource`` port, run against every implementation.

To cover a new adapter, add one line to ``ADAPTERS``: an async context manager that
takes the suite's ``Setup`` (a running Stigg emulator loaded with ``SCENARIO``, the same
data as a snapshot file, as domain sets and a clock) and yields a ``Harness``: the
source, plus hooks that break or slow its upstream (``None`` when it has none, e.g.
the snapshot file or the fake; the tests needing them are then skipped).

What every source shares (ports/entitlement_source.py; upstream-api.md §3):
- a customer's set reads back with its entitlements in upstream order, each with its
  kind, limits, usage and denial; a resource key reads the resource's own set;
- an unknown customer is answered in band: ``CustomerNotFound`` and no entitlements,
  not an error; the set's key is the requested key;
- ``consistent=True`` reads the same data (the Edge source alone refuses it by design:
  the routing source sends consistent reads to GraphQL, so Edge declares it cannot);
- failures are ``UpstreamError`` subclasses: an unavailable upstream is
  ``UpstreamUnavailableError``, a rejected key ``UpstreamAuthError``;
- a fetch never runs past its budget.
"""
from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from stigg_emulator import StiggEmulator, credit, customer, feature, snapshot

from adapters.outbound.offline import SnapshotEntitlementSource
from adapters.outbound.stigg_edge import EdgeEntitlementSource
from adapters.outbound.stigg_graphql import GraphqlEntitlementSource
from adapters.outbound.stigg_payloads import read_entitlements_state
from adapters.outbound.stigg_routing import RoutingEntitlementSource
from domain.model.budget import Budget
from domain.model.identifiers import CustomerKey
from domain.model.kinds import AccessDeniedReason, FeatureKind, ResetPeriod
from ports.entitlement_source import EntitlementSource
from ports.errors import UpstreamAuthError, UpstreamError, UpstreamUnavailableError
from ports.telemetry import NullTelemetry
from tests.fakes import FakeEntitlementSource
from tests.support.sidecar import PinnedWallClock
from tests.support.http_transport import production_http_transport

API_KEY = "contract-key"
ACME = CustomerKey("acme")
ACME_R1 = CustomerKey("acme", "res-1")
GHOST = CustomerKey("ghost")

SCENARIO = snapshot(
    customer("acme", [
        feature("sso"),
        feature("api-calls", "NUMBER", "Incremental", usageLimit=100, currentUsage=42,
                resetPeriod="MONTH", usagePeriodAnchor="2025-01-01T00:00:00.000Z",
                usagePeriodStart="2025-07-01T00:00:00.000Z",
                usagePeriodEnd="2025-08-01T00:00:00.000Z",
                usageUpdatedAt="2025-07-10T15:00:00.000Z"),
        feature("seats", "NUMBER", "None", usageLimit=25),
        feature("region", "ENUM", "None", enumValues=["eu", "us"]),
        feature("beta", isGranted=False, accessDeniedReason="Revoked"),
        credit("usd-credits", usageLimit=500, currentUsage=120),
    ]),
    customer("acme", [feature("sso")], resource_id="res-1"),
    customer("old", [], access_denied_reason="CustomerIsArchived"),
)


@dataclass
class Setup:
    emulator: StiggEmulator
    snapshot_file: Path
    #: Wall time pinned to the vectors' now; monotonic time real (budgets use it).
    clock: PinnedWallClock
    http: httpx.AsyncBaseTransport


@dataclass
class Harness:
    source: EntitlementSource
    #: Make the upstream answer 503 to everything; ``None``: the source has no upstream.
    break_upstream: Callable[[], None] | None = None
    #: Make the upstream slower than any budget of the suite.
    slow_upstream: Callable[[], None] | None = None
    #: Make the upstream reject the server API key.
    reject_key: Callable[[], None] | None = None
    #: Whether ``consistent=True`` is served (Edge alone refuses it).
    serves_consistent: bool = True


def _upstream(setup: Setup, source: EntitlementSource, target: str = "all", *,
              serves_consistent: bool = True) -> Harness:
    emu = setup.emulator
    return Harness(
        source,
        break_upstream=lambda: emu.set_fault("status", target=target, status=503),
        slow_upstream=lambda: emu.set_fault("slow", target=target, delay_ms=3000),
        reject_key=lambda: emu.set_fault("unauthorized", target=target),
        serves_consistent=serves_consistent,
    )


def _wiring(setup: Setup) -> dict:
    return dict(api_key=API_KEY, instance_id="contract", user_agent="contract-tests",
                clock=setup.clock, telemetry=NullTelemetry())


def _graphql(setup: Setup) -> GraphqlEntitlementSource:
    return GraphqlEntitlementSource(setup.http, api_url=setup.emulator.base_url, **_wiring(setup))


def _edge(setup: Setup) -> EdgeEntitlementSource:
    return EdgeEntitlementSource(setup.http, edge_url=setup.emulator.base_url, **_wiring(setup))


# --- adapters (one line each in ADAPTERS) ---------------------------------------------------


@contextlib.asynccontextmanager
async def graphql_source(setup: Setup) -> AsyncIterator[Harness]:
    yield _upstream(setup, _graphql(setup), "graphql")


@contextlib.asynccontextmanager
async def edge_source(setup: Setup) -> AsyncIterator[Harness]:
    yield _upstream(setup, _edge(setup), "edge", serves_consistent=False)


@contextlib.asynccontextmanager
async def routing_via_edge(setup: Setup) -> AsyncIterator[Harness]:
    yield _upstream(setup, RoutingEntitlementSource(_graphql(setup), _edge(setup), edge_enabled=True))


@contextlib.asynccontextmanager
async def routing_graphql_only(setup: Setup) -> AsyncIterator[Harness]:
    yield _upstream(setup, RoutingEntitlementSource(_graphql(setup), None, edge_enabled=False))


@contextlib.asynccontextmanager
async def snapshot_file(setup: Setup) -> AsyncIterator[Harness]:
    yield Harness(SnapshotEntitlementSource(setup.snapshot_file, setup.clock))


@contextlib.asynccontextmanager
async def fake_source(setup: Setup) -> AsyncIterator[Harness]:
    sets = [
        read_entitlements_state(CustomerKey.of(c["customerId"], c["resourceId"]),
                                c["entitlementsState"], setup.clock.now_ms())
        for c in SCENARIO["customers"]
    ]
    fake = FakeEntitlementSource(*sets)
    yield Harness(fake, break_upstream=fake.fail)


ADAPTERS = [
    pytest.param(graphql_source, id="graphql"),
    pytest.param(edge_source, id="edge"),
    pytest.param(routing_via_edge, id="routing-edge"),
    pytest.param(routing_graphql_only, id="routing-graphql"),
    pytest.param(snapshot_file, id="snapshot"),
    pytest.param(fake_source, id="fake"),
]


@pytest.fixture
async def setup(tmp_path) -> AsyncIterator[Setup]:
    path = tmp_path / "snapshot.json"
    path.write_text(json.dumps(SCENARIO))
    emu = StiggEmulator(api_key=API_KEY, scenario=SCENARIO)
    await emu.start(host="127.0.0.1", port=0)
    try:
        async with production_http_transport() as http:
            yield Setup(emu, path, PinnedWallClock(), http)
        assert emu.validation_failures == []
    finally:
        await emu.stop()


@pytest.fixture(params=ADAPTERS)
async def harness(request, setup) -> AsyncIterator[Harness]:
    async with request.param(setup) as built:
        yield built


def budget(seconds: float = 5.0) -> Budget:
    return Budget.starting(time.monotonic(), seconds)


async def fetch(h: Harness, key: CustomerKey, *, consistent: bool = False, within: float = 5.0):
    return await h.source.fetch(key, consistent=consistent, budget=budget(within))


# --- the contract ---------------------------------------------------------------------------


def test_adapter_implements_the_port(harness):
    assert isinstance(harness.source, EntitlementSource)


async def test_a_customer_set_reads_back_in_upstream_order(harness):
    got = await fetch(harness, ACME)
    assert got.key == ACME and got.customer_reason is None
    assert [f.feature.id for f in got.features] == ["sso", "api-calls", "seats", "region", "beta"]
    assert [f.kind for f in got.features] == [FeatureKind.BOOLEAN, FeatureKind.METERED,
                                              FeatureKind.NUMERIC, FeatureKind.ENUM,
                                              FeatureKind.BOOLEAN]
    metered = got.feature("api-calls")
    assert (metered.usage_limit, metered.usage.current_usage) == (100, 42)
    assert metered.reset_period is ResetPeriod.MONTH
    assert metered.usage.period_start_ms is not None and metered.usage.period_end_ms is not None
    assert got.feature("seats").usage_limit == 25
    assert got.feature("region").enum_values == ("eu", "us")
    assert got.feature("sso").denial_reason is None
    assert got.feature("beta").denial_reason is AccessDeniedReason.REVOKED
    (wallet,) = got.credits
    assert (wallet.currency.currency_id, wallet.usage_limit, wallet.usage.current_usage) == (
        "usd-credits", 500, 120)


async def test_a_resource_key_reads_the_resources_own_set(harness):
    got = await fetch(harness, ACME_R1)
    assert got.key == ACME_R1
    assert [f.feature.id for f in got.features] == ["sso"]


async def test_an_unknown_customer_is_answered_in_band(harness):
    got = await fetch(harness, GHOST)
    assert got.key == GHOST
    assert got.customer_reason is AccessDeniedReason.CUSTOMER_NOT_FOUND
    assert got.features == () and got.credits == ()


async def test_a_customer_level_reason_is_kept(harness):
    got = await fetch(harness, CustomerKey("old"))
    assert got.customer_reason is AccessDeniedReason.CUSTOMER_IS_ARCHIVED and got.features == ()


async def test_a_consistent_read_gives_the_same_data(harness):
    if not harness.serves_consistent:
        with pytest.raises(ValueError):
            await fetch(harness, ACME, consistent=True)
        return
    plain = await fetch(harness, ACME)
    consistent = await fetch(harness, ACME, consistent=True)
    assert consistent.features == plain.features and consistent.credits == plain.credits


async def test_an_unavailable_upstream_raises_upstream_unavailable(harness):
    if harness.break_upstream is None:
        pytest.skip("this source has no upstream to lose")
    harness.break_upstream()
    with pytest.raises(UpstreamUnavailableError):
        await fetch(harness, ACME, within=1.0)


async def test_a_rejected_key_raises_upstream_auth_error(harness):
    if harness.reject_key is None:
        pytest.skip("this source uses no key")
    harness.reject_key()
    with pytest.raises(UpstreamAuthError):
        await fetch(harness, ACME, within=1.0)


async def test_a_spent_budget_returns_or_fails_at_once(harness):
    started = time.monotonic()
    try:
        await harness.source.fetch(ACME, consistent=False, budget=Budget(time.monotonic()))
    except UpstreamError:
        pass
    assert time.monotonic() - started < 0.5


async def test_a_slow_upstream_never_holds_a_fetch_past_its_budget(harness):
    if harness.slow_upstream is None:
        pytest.skip("this source has no upstream to slow down")
    harness.slow_upstream()
    started = time.monotonic()
    with pytest.raises(UpstreamUnavailableError):
        await fetch(harness, ACME, within=0.3)
    assert time.monotonic() - started < 0.3 + 0.4
