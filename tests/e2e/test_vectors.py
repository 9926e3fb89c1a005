"""The behaviour vectors of shared/reference/vectors.md, through a real server, with both
the generated stubs and the official client (parametrised by ``caller_kind``).

WebSocket-dependent parts of V1, V6 and V15 (no upstream call while the feed is live) need
real-time updates; here the sidecar runs as with ``WS_ENABLED=false``, where every read
refetches, so those parts assert the refetch instead.
"""
from __future__ import annotations

import time
from datetime import datetime

import pytest

from support.sidecar import metric
from domain.model.identifiers import CustomerKey
from sidecarpb.v1 import sidecar_pb2 as pb
from support.requests import metered_request
from support.errors import status_message, status_name
from support.upstream import API_CALLS_V2, entitlement_reads, feature

R = pb.AccessDeniedReason


def ts(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


metered = metered_request


async def test_v1_boolean_granted(emulator, sidecar):
    app, client = sidecar
    emulator.set_customer("acme", [feature("sso")])
    r = await client.call("GetBooleanEntitlement",
                          pb.GetBooleanEntitlementRequest(customer_id="acme", feature_id="sso"))
    assert (r.has_access, r.is_fallback, r.HasField("access_denied_reason")) == (True, False, False)
    f = r.entitlement.feature
    assert (f.id, f.feature_type, f.meter_type, f.is_metered) == (
        "sso", pb.FEATURE_TYPE_BOOLEAN, pb.METER_TYPE_NONE, False)


@pytest.mark.parametrize("requested,access,reason,echo", [
    (5, True, None, 5), (6, False, R.ACCESS_DENIED_REASON_REQUESTED_USAGE_EXCEEDING_LIMIT, 6),
    (None, True, None, 0)])
async def test_v2_metered_within_at_over(emulator, sidecar, requested, access, reason, echo):
    app, client = sidecar
    emulator.set_customer("acme", [feature("api-calls", "NUMBER", "Incremental", **API_CALLS_V2)])
    r = await client.call("GetMeteredEntitlement", metered("acme", "api-calls", requested))
    assert r.has_access is access and r.is_fallback is False and r.requested_usage == echo
    assert (r.access_denied_reason if r.HasField("access_denied_reason") else None) == reason
    e = r.entitlement
    assert (e.usage_limit, e.current_usage, e.is_unlimited) == (100, 95, False)
    assert e.HasField("has_soft_limit") and e.has_soft_limit is False
    assert e.reset_period == pb.ENTITLEMENT_RESET_PERIOD_MONTH
    assert e.usage_period_start.seconds == ts("2025-07-01T00:00:00Z")
    assert e.usage_period_end.seconds == e.next_reset_date.seconds == ts("2025-08-01T00:00:00Z")
    assert e.usage_period_anchor.seconds == ts("2025-01-01T00:00:00Z")
    assert e.feature.meter_type == pb.METER_TYPE_INCREMENTAL and e.feature.is_metered


async def test_v2_exactly_at_limit(emulator, sidecar):
    app, client = sidecar
    emulator.set_customer("acme", [feature("api-calls", "NUMBER", "Incremental",
                                           **(API_CALLS_V2 | {"currentUsage": 100}))])
    r = await client.call("GetMeteredEntitlement", metered("acme", "api-calls"))
    assert r.has_access and r.requested_usage == 0
    r = await client.call("GetMeteredEntitlement", metered("acme", "api-calls", 1))
    assert not r.has_access
    assert r.access_denied_reason == R.ACCESS_DENIED_REASON_REQUESTED_USAGE_EXCEEDING_LIMIT


async def test_v3_soft_limit(emulator, sidecar):
    app, client = sidecar
    emulator.set_customer("acme", [feature("storage-gb", "NUMBER", "Fluctuating", usageLimit=50,
                                           currentUsage=72, hasSoftLimit=True)])
    r = await client.call("GetMeteredEntitlement", metered("acme", "storage-gb", 10))
    assert (r.has_access, r.is_fallback, r.HasField("access_denied_reason")) == (True, False, False)
    e = r.entitlement
    assert (e.has_soft_limit, e.usage_limit, e.current_usage, r.requested_usage) == (True, 50, 72, 10)


async def test_v4_unlimited(emulator, sidecar):
    app, client = sidecar
    emulator.set_customer("acme", [feature("api-calls", "NUMBER", "Incremental",
                                           hasUnlimitedUsage=True, currentUsage=1000000)])
    r = await client.call("GetMeteredEntitlement", metered("acme", "api-calls", 500))
    assert r.has_access and not r.HasField("access_denied_reason")
    assert r.entitlement.is_unlimited and not r.entitlement.HasField("usage_limit")
    assert r.entitlement.current_usage == 1000000


async def test_v5_null_limit_not_unlimited(emulator, sidecar):
    app, client = sidecar
    emulator.set_customer("acme", [feature("exports", "NUMBER", "Incremental", currentUsage=0)])
    r = await client.call("GetMeteredEntitlement", metered("acme", "exports"))
    assert r.has_access and not r.entitlement.HasField("usage_limit") and r.requested_usage == 0
    r = await client.call("GetMeteredEntitlement", metered("acme", "exports", 1))
    assert not r.has_access and not r.is_fallback
    assert r.access_denied_reason == R.ACCESS_DENIED_REASON_REQUESTED_USAGE_EXCEEDING_LIMIT


async def test_v6_weekly_rollover_on_every_read_path(emulator, sidecar):
    app, client = sidecar
    emulator.set_customer("acme", [feature(
        "messages", "NUMBER", "Incremental", usageLimit=10, currentUsage=10, resetPeriod="WEEK",
        usagePeriodAnchor="2025-05-14T08:00:00.000Z", usagePeriodStart="2025-07-02T08:00:00.000Z",
        usagePeriodEnd="2025-07-09T08:00:00.000Z")])
    r = await client.call("GetMeteredEntitlement", metered("acme", "messages", 5))
    assert (r.has_access, r.is_fallback, r.HasField("access_denied_reason")) == (True, False, False)
    e = r.entitlement
    assert e.current_usage == 0 and r.requested_usage == 5
    assert e.usage_period_start.seconds == ts("2025-07-09T08:00:00Z")
    assert e.usage_period_end.seconds == e.next_reset_date.seconds == ts("2025-07-16T08:00:00Z")
    assert e.usage_period_anchor.seconds == ts("2025-05-14T08:00:00Z")
    assert e.reset_period == pb.ENTITLEMENT_RESET_PERIOD_WEEK
    state = await client.call("GetEntitlementsStateV2",
                              pb.GetEntitlementsStateV2Request(customer_id="acme"))
    (item,) = state.entitlements
    assert item.metered.current_usage == 0
    assert item.metered.usage_period_start.seconds == ts("2025-07-09T08:00:00Z")
    assert item.metered.usage_period_end.seconds == ts("2025-07-16T08:00:00Z")


@pytest.mark.parametrize("values,access,reason", [
    (["eu"], True, None), (["eu", "apac"], False, R.ACCESS_DENIED_REASON_REQUESTED_VALUES_MISMATCH),
    ([], True, None)])
async def test_v7_enum_values(emulator, sidecar, values, access, reason):
    app, client = sidecar
    emulator.set_customer("acme", [feature("region", "ENUM", "None", enumValues=["eu", "us"])])
    request = pb.GetEnumEntitlementRequest(
        customer_id="acme", feature_id="region",
        options=pb.EnumEntitlementOptions(requested_values=values))
    r = await client.call("GetEnumEntitlement", request)
    assert r.has_access is access and not r.is_fallback
    assert (r.access_denied_reason if r.HasField("access_denied_reason") else None) == reason
    assert list(r.requested_values) == values
    assert list(r.entitlement.enum_values) == ["eu", "us"]
    assert r.entitlement.feature.feature_type == pb.FEATURE_TYPE_ENUM


@pytest.mark.parametrize("limit,meter,expected", [
    (25, "None", 25), (7.9, "None", 7), (30000000000, "None", 2147483647), (None, "None", None),
    (25, None, 25)])
async def test_v8_numeric_value(emulator, sidecar, limit, meter, expected):
    app, client = sidecar
    emulator.set_customer("acme", [feature("seats", "NUMBER", meter, usageLimit=limit)])
    r = await client.call("GetNumericEntitlement",
                          pb.GetNumericEntitlementRequest(customer_id="acme", feature_id="seats"))
    assert r.has_access and not r.HasField("access_denied_reason") and not r.is_fallback
    assert (r.entitlement.value if r.entitlement.HasField("value") else None) == expected
    assert r.entitlement.is_unlimited is False
    assert r.entitlement.feature.is_metered is False
    if meter == "None":
        assert r.entitlement.feature.meter_type == pb.METER_TYPE_NONE


@pytest.mark.parametrize("upstream_reason,expected", [
    ("BudgetExceeded", R.ACCESS_DENIED_REASON_BUDGET_EXCEEDED),
    ("Revoked", R.ACCESS_DENIED_REASON_REVOKED), (None, R.ACCESS_DENIED_REASON_UNKNOWN)])
async def test_v9_upstream_denial(emulator, sidecar, upstream_reason, expected):
    app, client = sidecar
    emulator.set_customer("acme", [feature("api-calls", "NUMBER", "Incremental", usageLimit=1000,
                                           currentUsage=0, isGranted=False,
                                           accessDeniedReason=upstream_reason)])
    r = await client.call("GetMeteredEntitlement", metered("acme", "api-calls", 1))
    assert (r.has_access, r.is_fallback, r.access_denied_reason) == (False, False, expected)
    assert (r.entitlement.usage_limit, r.entitlement.current_usage) == (1000, 0)


async def test_v10_type_mismatch(emulator, start_sidecar):
    async with start_sidecar(ENTITLEMENTS_FALLBACK='{"api-calls":{"hasAccess":true}}') as (app, client):
        emulator.set_customer("acme", [feature("api-calls", "NUMBER", "Incremental", **API_CALLS_V2)])
        r = await client.call("GetBooleanEntitlement", pb.GetBooleanEntitlementRequest(
            customer_id="acme", feature_id="api-calls",
            options=pb.BooleanEntitlementOptions(fallback=pb.BooleanEntitlementFallback(has_access=False))))
        assert (r.has_access, r.is_fallback, r.access_denied_reason) == (
            False, True, R.ACCESS_DENIED_REASON_FEATURE_TYPE_MISMATCH)
        before = metric(app, "sidecar_fallback_responses_total",
                        {"rpc": "GetBooleanEntitlement", "reason": "granted"})
        r = await client.call("GetBooleanEntitlement", pb.GetBooleanEntitlementRequest(
            customer_id="acme", feature_id="api-calls",
            options=pb.BooleanEntitlementOptions(fallback=pb.BooleanEntitlementFallback(has_access=True))))
        assert (r.has_access, r.is_fallback, r.HasField("access_denied_reason")) == (True, True, False)
        assert metric(app, "sidecar_fallback_responses_total",
                      {"rpc": "GetBooleanEntitlement", "reason": "granted"}) == before + 1
        # Global entry, no per-request fallback.
        r = await client.call("GetBooleanEntitlement", pb.GetBooleanEntitlementRequest(
            customer_id="acme", feature_id="api-calls"))
        assert (r.has_access, r.is_fallback, r.HasField("access_denied_reason")) == (True, True, False)


async def test_v10_without_any_fallback(emulator, sidecar):
    app, client = sidecar
    emulator.set_customer("acme", [feature("api-calls", "NUMBER", "Incremental", **API_CALLS_V2)])
    r = await client.call("GetBooleanEntitlement",
                          pb.GetBooleanEntitlementRequest(customer_id="acme", feature_id="api-calls"))
    assert (r.has_access, r.is_fallback, r.access_denied_reason) == (
        False, True, R.ACCESS_DENIED_REASON_FEATURE_TYPE_MISMATCH)


async def test_v11_customer_not_found(emulator, sidecar):
    app, client = sidecar
    r = await client.call("GetBooleanEntitlement",
                          pb.GetBooleanEntitlementRequest(customer_id="ghost", feature_id="sso"))
    assert (r.has_access, r.is_fallback, r.access_denied_reason) == (
        False, False, R.ACCESS_DENIED_REASON_CUSTOMER_NOT_FOUND)
    r = await client.call("GetMeteredEntitlement", metered("ghost", "api-calls", 2))
    assert (r.has_access, r.is_fallback, r.access_denied_reason) == (
        False, False, R.ACCESS_DENIED_REASON_CUSTOMER_NOT_FOUND)
    e = r.entitlement
    assert e.current_usage == 0 and not e.HasField("usage_limit") and e.has_soft_limit is False
    assert r.requested_usage == 2
    state = await client.call("GetEntitlementsStateV2",
                              pb.GetEntitlementsStateV2Request(customer_id="ghost"))
    assert list(state.entitlements) == []
    assert state.access_denied_reason == R.ACCESS_DENIED_REASON_CUSTOMER_NOT_FOUND
    edge_before = emulator.count(kind="edge")
    reload = await client.call("ReloadEntitlements", pb.ReloadEntitlementsRequest(customer_id="ghost"))
    assert reload.entitled_entity_exists is False
    assert emulator.count(kind="edge") == edge_before
    assert emulator.count(kind="graphql", operation="GetEntitlementsState", customer_id="ghost") == 1


FALLBACK_V12 = '{"exports":{"hasAccess":true,"usageLimit":500}}'


async def test_v12_global_fallback_upstream_down(emulator, start_sidecar):
    async with start_sidecar(ENTITLEMENTS_FALLBACK=FALLBACK_V12, ENTITLEMENTS_TIMEOUT_MS="300") as (app, client):
        emulator.set_fault("status", status=503)
        errors_before = metric(app, "sidecar_network_request_errors_total")
        started = time.monotonic()
        r = await client.call("GetMeteredEntitlement", metered("newco", "exports", 2))
        elapsed = time.monotonic() - started
        assert elapsed < 0.3 + 0.5
        assert (r.has_access, r.is_fallback, r.HasField("access_denied_reason")) == (True, True, False)
        e = r.entitlement
        assert (e.usage_limit, e.current_usage, e.is_unlimited, e.has_soft_limit) == (500, 0, False, False)
        assert r.requested_usage == 2
        assert metric(app, "sidecar_network_request_errors_total") > errors_before
        r = await client.call("GetMeteredEntitlement", metered("newco", "reports"))
        assert (r.has_access, r.is_fallback, r.access_denied_reason) == (
            False, True, R.ACCESS_DENIED_REASON_UNKNOWN)
        assert not r.entitlement.HasField("usage_limit") and r.requested_usage == 0


async def test_v13_per_request_fallback_replaces_global(emulator, start_sidecar):
    async with start_sidecar(ENTITLEMENTS_FALLBACK=FALLBACK_V12, ENTITLEMENTS_TIMEOUT_MS="300") as (app, client):
        emulator.set_fault("status", status=503)
        r = await client.call("GetMeteredEntitlement", metered("newco", "exports", 2, has_access=False))
        assert (r.has_access, r.is_fallback, r.access_denied_reason) == (
            False, True, R.ACCESS_DENIED_REASON_UNKNOWN)
        assert not r.entitlement.HasField("usage_limit") and r.requested_usage == 2
        r = await client.call("GetMeteredEntitlement",
                              metered("newco", "exports", 2, has_access=True, is_unlimited=True))
        assert r.has_access and not r.HasField("access_denied_reason")
        assert r.entitlement.is_unlimited and not r.entitlement.HasField("usage_limit")


FALLBACK_V14 = ('{"seats":{"hasAccess":true,"value":10},"exports":{"hasAccess":true,"usageLimit":500},'
                '"beta-ui":{"hasAccess":false},"region":{"hasAccess":true,"enumValues":["eu"]}}')


async def test_v14_bulk_fallback_list(emulator, start_sidecar):
    async with start_sidecar(ENTITLEMENTS_FALLBACK=FALLBACK_V14, ENTITLEMENTS_TIMEOUT_MS="300") as (app, client):
        emulator.set_fault("status", status=503)
        state = await client.call("GetEntitlementsStateV2",
                                  pb.GetEntitlementsStateV2Request(customer_id="newco"))
        assert not state.HasField("access_denied_reason")
        items = list(state.entitlements)
        assert [i.WhichOneof("entitlement") for i in items] == ["numeric", "metered", "boolean", "enum"]
        assert all(i.is_fallback for i in items)
        seats, exports, beta, region = items
        assert (seats.numeric.feature.id, seats.numeric.feature.feature_type, seats.has_access,
                seats.numeric.value) == ("seats", pb.FEATURE_TYPE_NUMBER, True, 10)
        assert (exports.metered.feature.id, exports.metered.feature.is_metered,
                exports.metered.usage_limit, exports.metered.current_usage) == ("exports", True, 500, 0)
        assert (beta.boolean.feature.id, beta.boolean.feature.feature_type, beta.has_access,
                beta.access_denied_reason) == ("beta-ui", pb.FEATURE_TYPE_BOOLEAN, False,
                                               R.ACCESS_DENIED_REASON_UNKNOWN)
        assert (region.enum.feature.id, list(region.enum.enum_values), region.has_access) == (
            "region", ["eu"], True)
        assert not any(i.HasField("access_denied_reason") for i in (seats, exports, region))
        v1 = await client.call("GetEntitlements", pb.GetEntitlementsRequest(customer_id="newco"))
        assert [i.WhichOneof("entitlement") for i in v1.entitlements] == [
            "numeric", "metered", "boolean", "enum"]
        assert v1.entitlements[0].numeric.value == 10 and not v1.HasField("access_denied_reason")
        emulator.reset_counters()
        empty = await client.call("GetEntitlementsStateV2", pb.GetEntitlementsStateV2Request(customer_id=""))
        assert [i.WhichOneof("entitlement") for i in empty.entitlements] == [
            "numeric", "metered", "boolean", "enum"]
        assert entitlement_reads(emulator) == 0


async def test_v15_report_usage_sets_cached_usage(emulator, sidecar):
    app, client = sidecar
    emulator.set_customer("acme", [feature("api-calls", "NUMBER", "Incremental", usageLimit=100,
                                           currentUsage=40)])
    await client.call("GetMeteredEntitlement", metered("acme", "api-calls"))
    r = await client.call("ReportUsage", pb.ReportUsageRequest(
        customer_id="acme", feature_id="api-calls", value=5,
        update_behavior=pb.USAGE_UPDATE_BEHAVIOR_DELTA))
    (recorded,) = emulator.usage_inputs
    assert recorded["customerId"] == "acme" and recorded["featureId"] == "api-calls"
    assert recorded["value"] == 5 and recorded["updateBehavior"] == "DELTA"
    assert recorded["idempotencyKey"]
    assert r.measurement_id and r.customer_id == "acme" and r.feature_id == "api-calls"
    assert r.current_usage == 45 and not r.HasField("resource_id")
    check = await client.call("GetMeteredEntitlement", metered("acme", "api-calls"))
    assert check.entitlement.current_usage == 45


async def test_v15_usage_report_fails_unavailable_with_same_key(emulator, sidecar):
    app, client = sidecar
    emulator.set_customer("acme", [feature("api-calls", "NUMBER", "Incremental", usageLimit=100,
                                           currentUsage=40)])
    await client.call("GetMeteredEntitlement", metered("acme", "api-calls"))
    # Every attempt reaches upstream, then the connection drops before the answer.
    emulator.set_fault("apply_then_drop", target="graphql", operation="reportUsage")
    with pytest.raises(Exception) as raised:
        await client.call("ReportUsage", pb.ReportUsageRequest(
            customer_id="acme", feature_id="api-calls", value=5))
    assert status_name(raised.value) == "UNAVAILABLE"
    assert "Failed to report usage: upstream unavailable" in status_message(raised.value)
    attempts = emulator.usage_inputs
    assert len(attempts) >= 2 and len({a["idempotencyKey"] for a in attempts}) == 1
    assert emulator.applied_usage_keys == 1  # upstream counted it once
    cached = await app.container.cache().get(CustomerKey("acme"))
    assert cached.entitlements.feature("api-calls").usage.current_usage == 40
