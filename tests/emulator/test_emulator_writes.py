"""Writes: reportUsage (DELTA/SET, idempotency, credits), bulk limits, events."""

from __future__ import annotations

import pytest
from emu_helpers import REPORT_EVENT, REPORT_USAGE, REPORT_USAGE_BULK, post_gql

pytestmark = pytest.mark.asyncio


def _usage(feature_id: str = "api-calls", value: float = 5, **extra) -> dict:
    return {"customerId": "acme", "featureId": feature_id, "value": value, **extra}


async def _report(client, **fields) -> dict:
    response = await post_gql(client, REPORT_USAGE, {"input": _usage(**fields)})
    assert response.status_code == 200
    return response.json()


async def test_report_usage_delta_then_set(emu, client):
    body = await _report(client, value=5, updateBehavior="DELTA", idempotencyKey="k1")
    measurement = body["data"]["reportUsage"]
    assert measurement["currentUsage"] == 45
    assert measurement["customerId"] == "acme"
    assert measurement["featureId"] == "api-calls"
    assert measurement["resourceId"] is None
    assert measurement["usagePeriodStart"] == "2025-07-01T00:00:00.000Z"
    assert measurement["usagePeriodEnd"] == "2025-08-01T00:00:00.000Z"
    assert measurement["nextResetDate"] == "2025-08-01T00:00:00.000Z"
    assert measurement["timestamp"] == "2025-07-10T15:30:00.000Z"
    assert measurement["credit"] is None
    assert len(measurement["id"]) == 36
    assert emu.get_usage("acme", "api-calls") == 45

    body = await _report(client, value=7, updateBehavior="SET", idempotencyKey="k2")
    assert body["data"]["reportUsage"]["currentUsage"] == 7
    assert emu.get_usage("acme", "api-calls") == 7

    await _report(client, value=-2)  # no behaviour: DELTA; negative decrements
    assert emu.get_usage("acme", "api-calls") == 5
    assert emu.usage_inputs[0] == _usage(value=5.0, updateBehavior="DELTA",
                                         idempotencyKey="k1")
    state = emu.get_state("acme")
    api_calls = next(i for i in state["entitlementsV2"]
                     if i.get("feature", {}).get("refId") == "api-calls")
    assert api_calls["usageUpdatedAt"] == "2025-07-10T15:30:00.000Z"


async def test_idempotency_key_is_applied_once(emu, client):
    first = await _report(client, value=5, idempotencyKey="same")
    second = await _report(client, value=5, idempotencyKey="same")
    assert first == second
    assert emu.get_usage("acme", "api-calls") == 45
    assert len(emu.usage_inputs) == 2
    assert emu.applied_usage_keys == 1
    assert emu.usage_replays == 1
    assert len(emu.usage_measurements) == 1


async def test_report_usage_for_resource(emu, client):
    await _report(client, value=3, resourceId="workspace-1")
    assert emu.get_usage("acme", "api-calls", resource_id="workspace-1") == 13
    assert emu.get_usage("acme", "api-calls") == 40
    assert emu.requests[-1].resource_id == "workspace-1"


async def test_unknown_feature_is_feature_not_found(emu, client):
    for fields in ({"feature_id": "nope"}, {"resourceId": "workspace-9"}):
        body = await _report(client, **fields)
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == "FeatureNotFound"
    response = await post_gql(client, REPORT_USAGE,
                              {"input": {**_usage(), "customerId": "ghost"}})
    assert response.json()["errors"][0]["extensions"]["code"] == "FeatureNotFound"
    assert emu.usage_measurements == []


async def test_credit_priced_feature_charges_the_wallet(emu, client):
    body = await _report(client, feature_id="ai-tokens", value=300)
    credit = body["data"]["reportUsage"]["credit"]
    assert credit["currencyId"] == "usd-credits"
    assert credit["consumed"] == pytest.approx(3.0)
    assert credit["currentUsage"] == pytest.approx(123.0)
    assert emu.get_usage("acme", "usd-credits") == pytest.approx(123.0)


async def test_usage_overrides_shape_the_answer(emu, client):
    emu.set_usage_overrides(currentUsage=None, id="6f1c9a52-2b1e-4c1a-9d0e-5a7c3e2b8f10")
    body = await _report(client)
    assert body["data"]["reportUsage"]["currentUsage"] is None
    assert body["data"]["reportUsage"]["id"] == "6f1c9a52-2b1e-4c1a-9d0e-5a7c3e2b8f10"
    emu.set_usage_overrides()
    emu.set_usage("acme", "api-calls", 42)
    body = await _report(client)
    assert body["data"]["reportUsage"]["currentUsage"] == 47  # V15: 42 + 5


async def test_bulk_reports_in_order(emu, client):
    usages = [_usage(value=1, idempotencyKey="a"), _usage("storage-gb", 30, updateBehavior="SET"),
              _usage(value=1, idempotencyKey="a")]
    response = await post_gql(client, REPORT_USAGE_BULK, {"input": {"usages": usages}})
    results = response.json()["data"]["reportUsageBulk"]
    assert [r["featureId"] for r in results] == ["api-calls", "storage-gb", "api-calls"]
    assert results[0] == results[2]
    assert emu.get_usage("acme", "api-calls") == 41
    assert emu.get_usage("acme", "storage-gb") == 30


async def test_bulk_over_100_is_rejected(emu, client):
    usages = [_usage(value=1) for _ in range(101)]
    response = await post_gql(client, REPORT_USAGE_BULK, {"input": {"usages": usages}})
    assert response.json()["errors"][0]["extensions"]["code"] == "BadUserInput"
    assert emu.get_usage("acme", "api-calls") == 40
    response = await post_gql(client, REPORT_USAGE_BULK, {"input": {"usages": usages[:100]}})
    assert len(response.json()["data"]["reportUsageBulk"]) == 100
    assert emu.get_usage("acme", "api-calls") == 140


async def test_bulk_with_an_unknown_feature_applies_nothing(emu, client):
    usages = [_usage(value=1), _usage("nope", 1)]
    response = await post_gql(client, REPORT_USAGE_BULK, {"input": {"usages": usages}})
    assert response.json()["errors"][0]["extensions"]["code"] == "FeatureNotFound"
    assert emu.get_usage("acme", "api-calls") == 40


def _event(key: str) -> dict:
    return {"customerId": "acme", "eventName": "page_view", "idempotencyKey": key,
            "dimensions": {"path": "/home"}}


async def test_events_are_deduplicated_by_key(emu, client):
    events = [_event("e1"), _event("e2"), _event("e1")]
    response = await post_gql(client, REPORT_EVENT, {"input": {"usageEvents": events}})
    assert response.json() == {"data": {"reportEvent": None}}
    await post_gql(client, REPORT_EVENT, {"input": {"usageEvents": [_event("e2")]}})
    assert sorted(emu.events) == ["e1", "e2"]
    assert len(emu.events_received) == 4
    assert emu.events["e1"]["dimensions"] == {"path": "/home"}
    assert emu.requests[-1].operation == "ReportEvent"


async def test_events_over_1000_are_rejected(emu, client):
    events = [_event(f"k{i}") for i in range(1001)]
    response = await post_gql(client, REPORT_EVENT, {"input": {"usageEvents": events}})
    assert response.json()["errors"][0]["extensions"]["code"] == "BadUserInput"
    assert emu.events == {}
    response = await post_gql(client, REPORT_EVENT, {"input": {"usageEvents": events[:1000]}})
    assert "errors" not in response.json()
    assert len(emu.events) == 1000
