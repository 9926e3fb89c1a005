"""Control routes under /_emulator/, used from another process."""

from __future__ import annotations

import httpx
import pytest
from emu_helpers import REPORT_EVENT, REPORT_USAGE, post_gql

from stigg_emulator import customer, feature, snapshot

pytestmark = pytest.mark.asyncio

EDGE_PATH = "/v1/c/acme/entitlements-state.json"


async def test_state_summarises_requests_usage_and_events(emu, client):
    await client.get(EDGE_PATH)
    await post_gql(client, REPORT_USAGE, {"input": {
        "customerId": "acme", "featureId": "api-calls", "value": 1, "idempotencyKey": "u1"}})
    await post_gql(client, REPORT_EVENT, {"input": {"usageEvents": [
        {"customerId": "acme", "eventName": "e", "idempotencyKey": "e1"}] * 2}})
    async with httpx.AsyncClient(base_url=emu.base_url) as control:
        state = (await control.get("/_emulator/state")).json()
    assert state["counts"]["total"] == 3
    assert state["counts"]["edge"] == 1
    assert state["counts"]["byOperation"]["graphql:ReportUsage"] == 1
    assert state["usage"]["inputs"][0]["idempotencyKey"] == "u1"
    assert state["usage"]["appliedKeys"] == 1
    assert state["events"]["duplicates"] == 1
    assert list(state["events"]["byKey"]) == ["e1"]
    assert state["validationFailures"] == []
    assert state["requests"][0]["kind"] == "edge"
    assert emu.count() == 3  # control requests are not recorded


async def test_fault_over_http(emu, client):
    async with httpx.AsyncClient(base_url=emu.base_url) as control:
        response = await control.post("/_emulator/fault", json={
            "mode": "status", "target": "edge", "status": 503, "count": 1})
        assert response.status_code == 200
        assert response.json()["faults"][0]["mode"] == "status"
        assert (await client.get(EDGE_PATH)).status_code == 503
        assert (await client.get(EDGE_PATH)).status_code == 200
        bad = await control.post("/_emulator/fault", json={"mode": "nope"})
        assert bad.status_code == 400
        bad = await control.post("/_emulator/fault", json={"mode": "down", "colour": 1})
        assert bad.status_code == 400
        assert (await control.get("/_emulator/state")).json()["faults"] == []


async def test_reset_over_http(emu, client):
    await post_gql(client, REPORT_USAGE, {"input": {
        "customerId": "acme", "featureId": "api-calls", "value": 10}})
    emu.remove_customer("trial-co")
    emu.set_fault("down", target="edge")
    async with httpx.AsyncClient(base_url=emu.base_url) as control:
        await control.post("/_emulator/reset", json={"counters_only": True})
        assert emu.count() == 0
        assert len(emu.usage_inputs) == 1
        assert emu.faults.active() != []
        await control.post("/_emulator/reset")
    assert emu.usage_inputs == []
    assert emu.faults.active() == []
    assert emu.get_usage("acme", "api-calls") == 40
    assert emu.get_state("trial-co")["accessDeniedReason"] == "NoActiveSubscription"


async def test_put_customers_replaces_the_scenario(emu, client):
    new = snapshot(customer("newco", [feature("beta-ui")]),
                   customer("newco", [feature("sso")], resource_id="r1"))
    async with httpx.AsyncClient(base_url=emu.base_url) as control:
        response = await control.put("/_emulator/customers", json=new)
        assert response.json() == {"ok": True, "customers": 2}
        assert (await control.put("/_emulator/customers", json={"format": 9})).status_code == 400
        assert (await control.put("/_emulator/customers", content=b"[]")).status_code == 400
        dumped = (await control.get("/_emulator/customers")).json()
    assert [c["customerId"] for c in dumped["customers"]] == ["newco", "newco"]
    gone = (await client.get(EDGE_PATH)).json()["data"]["entitlementsState"]
    assert gone["accessDeniedReason"] == "CustomerNotFound"
    emu.reset()
    assert emu.get_state("newco", "r1")["entitlementsV2"][0]["feature"]["refId"] == "sso"
