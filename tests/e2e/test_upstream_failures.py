"""Reads degrade (last-known-good, then fallback) and writes fail clearly when Stigg
misbehaves; concurrent cold misses share one fetch."""
from __future__ import annotations

import asyncio
import time

import pytest
from stigg_emulator import feature

from sidecarpb.v1 import sidecar_pb2 as pb
from support.errors import status_message, status_name
from support.sidecar import metric
from support.upstream import entitlement_reads

BUDGET_MS = 300
MARGIN_S = 0.5


def check(customer: str = "acme", feature_id: str = "api-calls", requested: float = 1):
    return pb.GetMeteredEntitlementRequest(
        customer_id=customer, feature_id=feature_id,
        options=pb.MeteredEntitlementOptions(requested_usage=requested))


@pytest.mark.parametrize("fault", [
    dict(mode="down"), dict(mode="malformed"), dict(mode="slow", delay_ms=3000),
    dict(mode="status", status=503),
    dict(mode="unauthorized"), dict(mode="status", status=500)])
async def test_cold_read_with_upstream_failing_answers_fallback_in_budget(
        emulator, start_sidecar, fault):
    async with start_sidecar(ENTITLEMENTS_TIMEOUT_MS=str(BUDGET_MS),
                             ENTITLEMENTS_FALLBACK='{"api-calls":{"hasAccess":true,"usageLimit":5}}') as (app, client):
        await client.call("GetMeteredEntitlement", check("warm-up"))  # the channel is set up
        fault = dict(fault)
        emulator.set_fault(fault.pop("mode"), **fault)
        started = time.monotonic()  # so the bound measures the sidecar, not the client's connect
        r = await client.call("GetMeteredEntitlement", check("newco"))
        assert time.monotonic() - started < BUDGET_MS / 1000 + MARGIN_S
        assert (r.has_access, r.is_fallback, r.entitlement.usage_limit) == (True, True, 5)


async def test_last_known_good_when_refetch_fails(emulator, start_sidecar):
    async with start_sidecar(ENTITLEMENTS_TIMEOUT_MS=str(BUDGET_MS)) as (app, client):
        emulator.set_customer("acme", [feature("api-calls", "NUMBER", "Incremental",
                                               usageLimit=10, currentUsage=9)])
        first = await client.call("GetMeteredEntitlement", check())
        assert first.has_access and not first.is_fallback
        emulator.set_fault("down")
        before = metric(app, "sidecar_last_known_good_responses_total")
        again = await client.call("GetMeteredEntitlement", check(requested=2))
        assert (again.has_access, again.is_fallback, again.access_denied_reason) == (
            False, False, pb.ACCESS_DENIED_REASON_REQUESTED_USAGE_EXCEEDING_LIMIT)
        assert again.entitlement.current_usage == 9
        assert metric(app, "sidecar_last_known_good_responses_total") == before + 1
        emulator.clear_faults()
        emulator.set_customer("acme", [feature("api-calls", "NUMBER", "Incremental",
                                               usageLimit=10, currentUsage=1)])
        recovered = await client.call("GetMeteredEntitlement", check(requested=2))
        assert recovered.has_access and recovered.entitlement.current_usage == 1


async def test_caller_deadline_shortens_the_budget(emulator, start_sidecar):
    async with start_sidecar() as (app, client):  # ENTITLEMENTS_TIMEOUT_MS = 10 s
        emulator.set_fault("slow", delay_ms=5000)
        started = time.monotonic()
        r = await client.call("GetMeteredEntitlement", check("newco"), timeout=1.0)
        assert time.monotonic() - started < 1.0  # well before the 10 s budget and the 5 s upstream
        assert r.is_fallback


async def test_thousand_concurrent_cold_checks_make_one_fetch(emulator, start_sidecar):
    async with start_sidecar() as (app, client):
        emulator.set_customer("acme", [feature("api-calls", "NUMBER", "Incremental",
                                               usageLimit=10, currentUsage=0)])
        emulator.set_fault("slow", target="edge", delay_ms=4000)
        emulator.reset_counters()
        answers = await asyncio.gather(*(client.call("GetMeteredEntitlement", check(), timeout=30)
                                         for _ in range(1000)))
        assert all(a.has_access and not a.is_fallback for a in answers)
        assert entitlement_reads(emulator, "acme") == 1


async def test_edge_disabled_reads_through_graphql(emulator, start_sidecar):
    async with start_sidecar(EDGE_ENABLED="false") as (app, client):
        emulator.set_customer("acme", [feature("api-calls", "NUMBER", "Incremental", usageLimit=10)])
        await client.call("GetMeteredEntitlement", check())
        assert emulator.count(kind="edge") == 0
        assert emulator.count(kind="graphql", operation="GetEntitlementsState") == 1


@pytest.mark.parametrize("fault,status,text", [
    (dict(mode="down"), "UNAVAILABLE", "upstream unavailable"),
    (dict(mode="malformed"), "UNAVAILABLE", "connection failed"),
    (dict(mode="status", status=503), "UNAVAILABLE", "upstream unavailable"),
    (dict(mode="unauthorized"), "FAILED_PRECONDITION", "rejected the server API key"),
    (dict(mode="status", status=429), "RESOURCE_EXHAUSTED", ""),
    (dict(mode="graphql_error", code="CustomerNotFound", message="no such customer"),
     "NOT_FOUND", "no such customer"),
    (dict(mode="graphql_error", code="BadUserInput", message="bad value"), "INVALID_ARGUMENT", "bad value"),
    (dict(mode="graphql_error", code="Surprise", message="odd", trace_id="t-1"), "UNKNOWN", "trace id t-1"),
])
async def test_writes_map_upstream_failures_to_status(emulator, start_sidecar, fault, status, text):
    async with start_sidecar(API_TIMEOUT_MS="1500") as (app, client):
        fault = dict(fault)
        emulator.set_fault(fault.pop("mode"), target="graphql", **fault)
        for rpc, request in (
            ("ReportUsage", pb.ReportUsageRequest(customer_id="acme", feature_id="api-calls", value=1)),
            ("ReportEvents", pb.ReportEventsRequest(events=[pb.Event(
                event_name="e", customer_id="acme", idempotency_key="k")])),
        ):
            with pytest.raises(Exception) as raised:
                await client.call(rpc, request)
            assert status_name(raised.value) == status
            assert text in status_message(raised.value)
            assert "test-server-key" not in status_message(raised.value)


async def test_bulk_partial_failure_says_how_many_were_recorded(emulator, start_sidecar):
    async with start_sidecar(API_TIMEOUT_MS="1500") as (app, client):
        emulator.set_customer("acme", [feature("api-calls", "NUMBER", "Incremental", usageLimit=1000)])
        # Chunks of 100: the third holds a feature upstream does not know, so it fails.
        usages = [pb.ReportUsageRequest(customer_id="acme", value=1,
                                        feature_id="api-calls" if i < 200 else "unknown-feature")
                  for i in range(250)]
        with pytest.raises(Exception) as raised:
            await client.call("ReportUsageBulk", pb.ReportUsageBulkRequest(usages=usages))
        message = status_message(raised.value)
        assert status_name(raised.value) == "NOT_FOUND"
        assert message.startswith("ReportUsageBulk: 200 of 250 usages recorded before the failure")
        assert len(emulator.usage_measurements) == 200


async def test_a_short_deadline_does_not_cut_the_shared_fetch_for_others(emulator, start_sidecar):
    async with start_sidecar() as (app, client):
        emulator.set_customer("acme", [feature("api-calls", "NUMBER", "Incremental", usageLimit=10)])
        emulator.set_fault("slow", target="edge", delay_ms=1500)

        async def one(deadline: float, delay: float):
            await asyncio.sleep(delay)
            try:
                return await client.call("GetMeteredEntitlement", check(), timeout=deadline)
            except Exception as error:  # the hasty caller may also just see its deadline
                return error

        hasty, *patient = await asyncio.gather(one(0.5, 0), *(one(10, 0.05) for _ in range(3)))
        assert isinstance(hasty, Exception) or hasty.is_fallback
        assert all(not r.is_fallback and r.has_access for r in patient)
        assert entitlement_reads(emulator, "acme") == 1
