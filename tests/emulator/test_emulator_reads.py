"""Reads: Edge and GraphQL entitlementsState, auth, validation, recording."""

from __future__ import annotations

import httpx
import pytest
from emu_helpers import (
    API_KEY, GET_ENTITLEMENTS_STATE, HEADERS, SDK_CONFIGURATION, gql_body, post_gql,
)

from stigg_emulator import StiggEmulator, feature

pytestmark = pytest.mark.asyncio


def _by_ref(items: list[dict]) -> dict[str, dict]:
    return {(i.get("feature") or {}).get("refId") or i["currency"]["currencyId"]: i
            for i in items}


async def test_edge_read_serves_upstream_shape(emu, client):
    response = await client.get("/v1/c/acme/entitlements-state.json")
    assert response.status_code == 200
    state = response.json()["data"]["entitlementsState"]
    assert state["accessDeniedReason"] is None
    items = _by_ref(state["entitlementsV2"])
    assert items["sso"]["__typename"] == "FeatureEntitlement"
    assert items["sso"]["feature"]["featureType"] == "BOOLEAN"
    assert items["api-calls"]["usageLimit"] == 100
    assert items["api-calls"]["currentUsage"] == 40
    assert items["api-calls"]["usagePeriodStart"] == "2025-07-01T00:00:00.000Z"
    assert items["region"]["enumValues"] == ["eu", "us"]
    assert items["storage-gb"]["hasSoftLimit"] is True
    assert items["usd-credits"]["__typename"] == "CreditEntitlement"
    assert items["usd-credits"]["usageLimit"] == 500
    assert emu.count(kind="edge", customer_id="acme") == 1


async def test_edge_read_with_resource(client):
    response = await client.get("/v1/c/acme/entitlements-state.json",
                                params={"resourceId": "workspace-1"})
    items = _by_ref(response.json()["data"]["entitlementsState"]["entitlementsV2"])
    assert items["seats"]["usageLimit"] == 5


async def test_edge_decodes_percent_encoded_customer_id(emu, client):
    emu.set_customer("a/b c?#", [feature("sso")])
    response = await client.get("/v1/c/a%2Fb%20c%3F%23/entitlements-state.json")
    state = response.json()["data"]["entitlementsState"]
    assert state["accessDeniedReason"] is None
    assert emu.requests[-1].customer_id == "a/b c?#"


async def test_edge_customer_not_found_in_band(client):
    response = await client.get("/v1/c/ghost/entitlements-state.json")
    assert response.status_code == 200
    assert response.json() == {"data": {"entitlementsState": {
        "accessDeniedReason": "CustomerNotFound", "entitlementsV2": []}}}


async def test_edge_no_active_subscription(client):
    response = await client.get("/v1/c/trial-co/entitlements-state.json")
    state = response.json()["data"]["entitlementsState"]
    assert state == {"accessDeniedReason": "NoActiveSubscription", "entitlementsV2": []}


async def test_edge_requires_api_version(emu, client):
    response = await client.get("/v1/c/acme/entitlements-state.json",
                                headers={"X-API-VERSION": "2"})
    assert response.status_code == 400
    assert emu.validation_failures[0]["kind"] == "header"


@pytest.mark.parametrize("key", ["wrong", None])
async def test_bad_or_missing_key_is_401_on_both_endpoints(emu, key):
    headers = {"X-API-VERSION": "1"} | ({"X-API-KEY": key} if key else {})
    async with httpx.AsyncClient(base_url=emu.base_url, headers=headers) as http:
        edge = await http.get("/v1/c/acme/entitlements-state.json")
        gql = await http.post("/graphql", json=gql_body(SDK_CONFIGURATION))
    for response in (edge, gql):
        assert response.status_code == 401
        assert response.json()["errors"][0]["extensions"]["code"] == "Unauthenticated"
    assert [r.status for r in emu.requests] == [401, 401]


async def test_graphql_entitlements_state_projects_selection(emu, client):
    response = await post_gql(client, GET_ENTITLEMENTS_STATE,
                              {"query": {"customerId": "acme"}})
    assert response.status_code == 200
    body = response.json()
    assert "errors" not in body
    items = _by_ref(body["data"]["entitlementsState"]["entitlementsV2"])
    api_calls = items["api-calls"]
    assert api_calls["resetPeriodConfiguration"] == {"monthlyAccordingTo": "StartOfTheMonth"}
    assert api_calls["creditRate"] is None
    assert "meterId" not in api_calls  # not selected
    assert set(items["usd-credits"]) >= {"__typename", "currency", "usagePeriodEnd"}
    assert "hasUnlimitedUsage" not in items["usd-credits"]
    assert items["ai-tokens"]["creditRate"] == {"amount": 0.01, "currencyId": "usd-credits"}
    assert emu.validation_failures == []
    record = emu.requests[-1]
    assert (record.kind, record.operation, record.customer_id) == (
        "graphql", "GetEntitlementsState", "acme")


async def test_graphql_aliases_and_named_fragments(client):
    query = """
    query Q($q: FetchEntitlementsQuery!) {
      s: entitlementsState(query: $q) { entitlementsV2 { kind: __typename ...F } }
    }
    fragment F on FeatureEntitlement { feature { refId } limit: usageLimit }
    """
    response = await post_gql(client, query, {"q": {"customerId": "acme",
                                                     "resourceId": "workspace-1"}})
    items = response.json()["data"]["s"]["entitlementsV2"]
    assert {"kind": "FeatureEntitlement", "feature": {"refId": "seats"}, "limit": 5} in items


async def test_graphql_customer_not_found_in_band(client):
    response = await post_gql(client, GET_ENTITLEMENTS_STATE,
                              {"query": {"customerId": "ghost"}})
    assert response.json() == {"data": {"entitlementsState": {
        "accessDeniedReason": "CustomerNotFound", "entitlementsV2": []}}}


async def test_graphql_without_projection_returns_stored_objects():
    async with StiggEmulator(api_key=API_KEY, project=False) as emu:
        emu.set_customer("acme", [feature("sso")])
        async with httpx.AsyncClient(base_url=emu.base_url, headers=HEADERS) as http:
            response = await post_gql(http, "query Q { entitlementsState(query: "
                                            "{customerId: \"acme\"}) { accessDeniedReason } }")
    state = response.json()["data"]["entitlementsState"]
    assert state["entitlementsV2"][0]["feature"]["refId"] == "sso"


async def test_sdk_configuration(client):
    response = await post_gql(client, SDK_CONFIGURATION)
    assert response.json() == {"data": {"sdkConfiguration": {"isWidgetWatermarkEnabled": False}}}


@pytest.mark.parametrize(("query", "variables", "code"), [
    ("query Q { sdkConfiguration { noSuchField } }", {}, "GRAPHQL_VALIDATION_FAILED"),
    ("query Q { sdkConfiguration { ", {}, "GRAPHQL_PARSE_FAILED"),
    (GET_ENTITLEMENTS_STATE, {"query": {"resourceId": "x"}}, "BAD_USER_INPUT"),
])
async def test_invalid_documents_are_answered_and_recorded(emu, client, query, variables, code):
    response = await post_gql(client, query, variables)
    assert response.status_code == 200
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == code
    assert len(emu.validation_failures) == 1
    assert emu.validation_failures[0]["kind"] == "document"
    assert emu.validation_failures[0]["query"] == query


async def test_graphql_requires_json_content_type(emu, client):
    response = await client.post("/graphql", content=b'{"query": "{ __typename }"}',
                                 headers={"Content-Type": "text/plain"})
    assert response.status_code == 400
    assert emu.validation_failures[0]["kind"] == "header"


async def test_counting_and_recorded_headers(emu, client):
    await client.get("/v1/c/acme/entitlements-state.json",
                     headers={"User-Agent": "stigg-sidecar-py/0.1.0",
                              "X-SDK-INSTANCE-ID": "inst-1"})
    await client.get("/v1/c/ghost/entitlements-state.json")
    await post_gql(client, GET_ENTITLEMENTS_STATE, {"query": {"customerId": "acme"}})
    await post_gql(client, SDK_CONFIGURATION)
    assert emu.count() == 4
    assert emu.count(kind="edge") == 2
    assert emu.count(operation="entitlementsState") == 3
    assert emu.count(kind="graphql", operation="GetEntitlementsState") == 1
    assert emu.count(kind="graphql", operation="sdkConfiguration") == 1
    assert emu.count(customer_id="acme") == 2
    first = emu.requests[0]
    assert first.headers["user-agent"] == "stigg-sidecar-py/0.1.0"
    assert first.headers["x-sdk-instance-id"] == "inst-1"
    assert first.headers["x-api-key"] == API_KEY
    emu.reset_counters()
    assert emu.count() == 0


async def test_root_typename_unsupported_fields_and_bad_bodies(emu, client):
    assert (await post_gql(client, "query T { __typename }")).json() == {
        "data": {"__typename": "Query"}}
    body = (await post_gql(client, "query C { currentEnvironment }")).json()
    assert body["errors"][0]["extensions"]["code"] == "EMULATOR_UNSUPPORTED"
    body = (await post_gql(client, "subscription S { usageUpdatedV2 { customerId } }")).json()
    assert body["errors"][0]["extensions"]["code"] == "EMULATOR_UNSUPPORTED"
    assert emu.validation_failures == []
    response = await client.post("/graphql", content=b"not json",
                                 headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert emu.validation_failures[-1]["kind"] == "body"
    body = (await client.post("/graphql", json={"query": "query A { __typename } "
                                                         "query B { __typename }"})).json()
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
