"""OFFLINE=true: no network at all; fallbacks, or an entitlement snapshot file."""
from __future__ import annotations

import json

import pytest
from stigg_emulator import customer, feature, snapshot

from sidecarpb.v1 import sidecar_pb2 as pb
from support.sidecar import metric
from support.upstream import API_CALLS_V2


def offline_env(**extra: str) -> dict[str, str]:
    return {"OFFLINE": "true", "SERVER_API_KEY": "", "WS_ENABLED": "true",
            "ENTITLEMENTS_FALLBACK": '{"sso":{"hasAccess":true}}'} | extra


async def test_offline_answers_fallbacks_and_acknowledges_writes(emulator, start_sidecar):
    emulator.set_customer("acme", [feature("sso")])
    async with start_sidecar(**offline_env()) as (app, client):
        r = await client.call("GetBooleanEntitlement", pb.GetBooleanEntitlementRequest(customer_id="acme", feature_id="sso"))
        assert (r.has_access, r.is_fallback) == (True, True)
        r = await client.call("GetBooleanEntitlement", pb.GetBooleanEntitlementRequest(customer_id="acme", feature_id="x"))
        assert (r.has_access, r.is_fallback) == (False, True)
        usage = await client.call("ReportUsage", pb.ReportUsageRequest(customer_id="acme", feature_id="api-calls", value=3))
        assert usage.measurement_id and usage.customer_id == "acme" and not usage.HasField("current_usage")
        await client.call("ReportEvents", pb.ReportEventsRequest(events=[pb.Event(
            event_name="e", customer_id="acme", idempotency_key="k")]))
        reload = await client.call("ReloadEntitlements", pb.ReloadEntitlementsRequest(customer_id="acme"))
        assert reload.entitled_entity_exists is True
        assert metric(app, "sidecar_network_request_errors_total") == 0
    assert emulator.requests == [] and emulator.ws_connection_attempts == 0


@pytest.fixture
def snapshot_file(tmp_path):
    path = tmp_path / "snapshot.json"
    path.write_text(json.dumps(snapshot(
        customer("acme", [
            feature("api-calls", "NUMBER", "Incremental", **API_CALLS_V2),
            feature("region", "ENUM", "None", enumValues=["eu", "us"]),
            feature("seats", "NUMBER", "None", usageLimit=7.9),
        ]),
        customer("trial-co", [], access_denied_reason="NoActiveSubscription"),
    )))
    return path


async def test_offline_snapshot_answers_the_vectors_with_no_network(emulator, start_sidecar, snapshot_file):
    async with start_sidecar(**offline_env(ENTITLEMENTS_SNAPSHOT_FILE=str(snapshot_file))) as (app, client):
        r = await client.call("GetMeteredEntitlement", pb.GetMeteredEntitlementRequest(
            customer_id="acme", feature_id="api-calls", options=pb.MeteredEntitlementOptions(requested_usage=6)))
        assert (r.has_access, r.is_fallback, r.access_denied_reason) == (
            False, False, pb.ACCESS_DENIED_REASON_REQUESTED_USAGE_EXCEEDING_LIMIT)
        assert r.entitlement.current_usage == 95
        r = await client.call("GetEnumEntitlement", pb.GetEnumEntitlementRequest(
            customer_id="acme", feature_id="region", options=pb.EnumEntitlementOptions(requested_values=["eu"])))
        assert r.has_access and not r.is_fallback
        r = await client.call("GetNumericEntitlement", pb.GetNumericEntitlementRequest(customer_id="acme", feature_id="seats"))
        assert r.entitlement.value == 7
        r = await client.call("GetBooleanEntitlement", pb.GetBooleanEntitlementRequest(customer_id="ghost", feature_id="sso"))
        assert (r.has_access, r.is_fallback, r.access_denied_reason) == (
            False, False, pb.ACCESS_DENIED_REASON_CUSTOMER_NOT_FOUND)
        r = await client.call("GetBooleanEntitlement", pb.GetBooleanEntitlementRequest(customer_id="trial-co", feature_id="sso"))
        assert r.access_denied_reason == pb.ACCESS_DENIED_REASON_NO_ACTIVE_SUBSCRIPTION
    assert emulator.requests == []


def test_unusable_snapshot_fails_at_start(tmp_path, monkeypatch):
    from bootstrap.settings import ConfigurationError, load_sidecar_settings

    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    monkeypatch.setenv("OFFLINE", "true")
    monkeypatch.setenv("ENTITLEMENTS_SNAPSHOT_FILE", str(bad))
    with pytest.raises(ConfigurationError) as raised:
        load_sidecar_settings()
    assert "ENTITLEMENTS_SNAPSHOT_FILE" in str(raised.value) and "not valid JSON" in str(raised.value)
