"""All 12 RPCs answer through both real clients, against the demo-like scenario."""
from __future__ import annotations

import pytest
from google.protobuf import empty_pb2
from stigg_emulator import credit, credit_rate, feature

from sidecarpb.v1 import sidecar_pb2 as pb
from support.upstream import entitlement_reads

ENTITLEMENTS = [
    feature("sso"),
    feature("seats", "NUMBER", "None", usageLimit=25),
    feature("api-calls", "NUMBER", "Incremental", usageLimit=100, currentUsage=40),
    feature("region", "ENUM", "None", enumValues=["eu", "us"]),
    feature("ai-tokens", "NUMBER", "Incremental", usageLimit=1000, currentUsage=0,
            creditRate=credit_rate("usd-credits", 0.5)),
    credit("usd-credits", usageLimit=500, currentUsage=120),
]


@pytest.fixture
def scenario(emulator):
    emulator.set_customer("acme", ENTITLEMENTS)
    emulator.set_customer("acme", [feature("sso")], resource_id="workspace-1")


async def test_get_entitlements_v1(scenario, sidecar):
    _, client = sidecar
    r = await client.call("GetEntitlements", pb.GetEntitlementsRequest(customer_id="acme"))
    members = [i.WhichOneof("entitlement") for i in r.entitlements]
    assert members == ["boolean", "numeric", "metered", "enum", "metered"]  # no credits in V1
    assert not r.HasField("access_denied_reason")


async def test_get_entitlements_state_v2_includes_credits(scenario, sidecar):
    _, client = sidecar
    r = await client.call("GetEntitlementsStateV2", pb.GetEntitlementsStateV2Request(customer_id="acme"))
    members = [i.WhichOneof("entitlement") for i in r.entitlements]
    assert members == ["boolean", "numeric", "metered", "enum", "metered", "credit"]
    wallet = r.entitlements[-1]
    assert wallet.has_access and not wallet.is_fallback
    assert (wallet.credit.usage_limit, wallet.credit.current_usage, wallet.credit.remaining) == (500, 120, 380)
    assert wallet.credit.currency.currency_id == "usd-credits"


async def test_resource_scoped_entry(scenario, sidecar):
    _, client = sidecar
    r = await client.call("GetEntitlementsStateV2", pb.GetEntitlementsStateV2Request(
        customer_id="acme", resource_id="workspace-1"))
    assert [i.boolean.feature.id for i in r.entitlements] == ["sso"]
    # An empty resource id is the same as none.
    r = await client.call("GetNumericEntitlement", pb.GetNumericEntitlementRequest(
        customer_id="acme", feature_id="seats", resource_id=""))
    assert r.has_access and r.entitlement.value == 25


async def test_generic_get_entitlement(scenario, sidecar):
    _, client = sidecar
    r = await client.call("GetEntitlement", pb.GetEntitlementRequest(
        customer_id="acme", feature_id="api-calls",
        options=pb.GetEntitlementOptions(requested_usage=61)))
    assert r.WhichOneof("entitlement") == "metered" and not r.has_access and not r.is_fallback
    assert r.access_denied_reason == pb.ACCESS_DENIED_REASON_REQUESTED_USAGE_EXCEEDING_LIMIT
    r = await client.call("GetEntitlement", pb.GetEntitlementRequest(customer_id="acme", feature_id="nope"))
    assert (r.has_access, r.is_fallback, r.access_denied_reason, r.WhichOneof("entitlement")) == (
        False, True, pb.ACCESS_DENIED_REASON_NO_FEATURE_ENTITLEMENT_IN_SUBSCRIPTION, "boolean")


async def test_get_entitlement_v2_feature_and_credit(scenario, sidecar):
    _, client = sidecar
    r = await client.call("GetEntitlementV2", pb.GetEntitlementV2Request(customer_id="acme", feature_id="region"))
    assert r.entitlement.WhichOneof("entitlement") == "enum" and r.entitlement.has_access
    r = await client.call("GetEntitlementV2", pb.GetEntitlementV2Request(
        customer_id="acme", currency_id="usd-credits", options=pb.GetEntitlementOptions(requested_usage=381)))
    e = r.entitlement
    assert e.WhichOneof("entitlement") == "credit" and not e.has_access
    assert e.access_denied_reason == pb.ACCESS_DENIED_REASON_INSUFFICIENT_CREDITS
    r = await client.call("GetEntitlementV2", pb.GetEntitlementV2Request(customer_id="acme", currency_id="eur"))
    assert (r.entitlement.is_fallback, r.entitlement.access_denied_reason) == (
        True, pb.ACCESS_DENIED_REASON_ENTITLEMENT_NOT_FOUND)


async def test_v2_both_ids_is_a_fallback_without_upstream_call(scenario, emulator, sidecar):
    _, client = sidecar
    emulator.reset_counters()
    r = await client.call("GetEntitlementV2", pb.GetEntitlementV2Request(
        customer_id="acme", feature_id="sso", currency_id="usd-credits"))
    assert r.entitlement.is_fallback and not r.entitlement.has_access
    assert r.entitlement.access_denied_reason == pb.ACCESS_DENIED_REASON_UNKNOWN
    assert entitlement_reads(emulator) == 0


async def test_reload_entitlements(scenario, emulator, sidecar):
    _, client = sidecar
    r = await client.call("ReloadEntitlements", pb.ReloadEntitlementsRequest(customer_id="acme"))
    assert r.entitled_entity_exists is True
    assert emulator.count(kind="edge") == 0
    assert emulator.count(kind="graphql", operation="GetEntitlementsState") == 1


async def test_report_usage_bulk_in_order(scenario, emulator, sidecar):
    _, client = sidecar
    usages = [pb.ReportUsageRequest(customer_id="acme", feature_id="api-calls", value=1)
              for _ in range(150)]
    r = await client.call("ReportUsageBulk", pb.ReportUsageBulkRequest(usages=usages))
    assert len(r.usages) == 150
    assert [u.current_usage for u in r.usages][-1] == 190
    assert emulator.count(kind="graphql", operation="reportUsageBulk") == 2  # 100 + 50
    keys = [u["idempotencyKey"] for u in emulator.usage_inputs]
    assert len(set(keys)) == 150 and all(keys)
    empty = await client.call("ReportUsageBulk", pb.ReportUsageBulkRequest())
    assert list(empty.usages) == []


async def test_report_events(scenario, emulator, sidecar):
    _, client = sidecar
    events = [pb.Event(event_name="api-call", customer_id="acme", idempotency_key=f"k-{i}",
                       dimensions={"route": pb.EventDimensionValue(string_value="/v1"),
                                   "bytes": pb.EventDimensionValue(number_value=12.5),
                                   "cached": pb.EventDimensionValue(boolean_value=True)})
              for i in range(1001)]
    r = await client.call("ReportEvents", pb.ReportEventsRequest(events=events))
    assert isinstance(r, empty_pb2.Empty)
    assert emulator.count(kind="graphql", operation="reportEvent") == 2
    assert len(emulator.events) == 1001
    assert emulator.events["k-0"]["dimensions"] == {"route": "/v1", "bytes": 12.5, "cached": True}
