"""Switchable faults: every mode, targets, operation filters and count=N."""

from __future__ import annotations

import time

import httpx
import pytest
from emu_helpers import GET_ENTITLEMENTS_STATE, REPORT_USAGE, SDK_CONFIGURATION, post_gql

pytestmark = pytest.mark.asyncio

EDGE_PATH = "/v1/c/acme/entitlements-state.json"
USAGE = {"customerId": "acme", "featureId": "api-calls", "value": 5, "idempotencyKey": "k"}


async def test_down_aborts_the_connection(emu, client):
    emu.set_fault("down")
    with pytest.raises(httpx.TransportError):
        await client.get(EDGE_PATH)
    with pytest.raises(httpx.TransportError):
        await post_gql(client, SDK_CONFIGURATION)
    assert [(r.fault, r.status) for r in emu.requests] == [("down", None), ("down", None)]


async def test_down_with_count_then_recovers(emu, client):
    emu.set_fault("down", target="edge", count=2)
    for _ in range(2):
        with pytest.raises(httpx.TransportError):
            await client.get(EDGE_PATH)
    assert (await client.get(EDGE_PATH)).status_code == 200
    assert emu.faults.active() == []
    assert emu.count(kind="edge") == 3


async def test_slow_delays_then_answers(emu, client):
    emu.set_fault("slow", delay_ms=150)
    started = time.monotonic()
    response = await client.get(EDGE_PATH)
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.14
    with pytest.raises(httpx.ReadTimeout):
        await client.get(EDGE_PATH, timeout=0.05)


async def test_unauthorized(client, emu):
    emu.set_fault("unauthorized", target="graphql")
    response = await post_gql(client, SDK_CONFIGURATION)
    assert response.status_code == 401
    assert (await client.get(EDGE_PATH)).status_code == 200


async def test_status_with_retry_after(emu, client):
    emu.set_fault("status", status=429, retry_after=2, count=1)
    response = await client.get(EDGE_PATH)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert "errors" in response.json()
    emu.set_fault("status", status=503)
    response = await post_gql(client, SDK_CONFIGURATION)
    assert response.status_code == 503
    assert "Retry-After" not in response.headers


async def test_graphql_error_in_band(emu, client):
    emu.set_fault("graphql_error", code="RateLimitExceeded", message="slow down",
                  trace_id="t-1", count=1)
    response = await post_gql(client, SDK_CONFIGURATION)
    assert response.status_code == 200
    error = response.json()["errors"][0]
    assert error["message"] == "slow down"
    assert error["extensions"] == {"code": "RateLimitExceeded", "traceId": "t-1"}
    response = await post_gql(client, SDK_CONFIGURATION)
    assert "errors" not in response.json()


async def test_graphql_error_on_edge(emu, client):
    emu.set_fault("graphql_error", target="edge", code="OperationTimeout")
    body = (await client.get(EDGE_PATH)).json()
    assert body["errors"][0]["extensions"]["code"] == "OperationTimeout"


async def test_operation_filter_and_specificity(emu, client):
    emu.set_fault("status", status=502, operation="entitlementsState")
    emu.set_fault("status", status=504, target="graphql", operation="GetEntitlementsState")
    assert (await post_gql(client, SDK_CONFIGURATION)).status_code == 200
    response = await post_gql(client, GET_ENTITLEMENTS_STATE, {"query": {"customerId": "acme"}})
    assert response.status_code == 504
    assert (await client.get(EDGE_PATH)).status_code == 502
    emu.set_fault("none", target="graphql")
    response = await post_gql(client, GET_ENTITLEMENTS_STATE, {"query": {"customerId": "acme"}})
    assert response.status_code == 502
    emu.set_fault("none")
    assert emu.faults.active() == []


async def test_apply_then_drop_applies_before_dropping(emu, client):
    emu.set_fault("apply_then_drop", delay_ms=50, count=1)
    assert (await client.get(EDGE_PATH)).status_code == 200  # reads do not match
    with pytest.raises(httpx.TransportError):
        await post_gql(client, REPORT_USAGE, {"input": USAGE})
    assert emu.get_usage("acme", "api-calls") == 45
    retry = await post_gql(client, REPORT_USAGE, {"input": USAGE})
    assert retry.json()["data"]["reportUsage"]["currentUsage"] == 45
    assert emu.get_usage("acme", "api-calls") == 45
    assert emu.applied_usage_keys == 1
    assert [r.variables["input"]["idempotencyKey"] for r in emu.requests[1:]] == ["k", "k"]


async def test_client_timeout_under_apply_then_drop(emu, client):
    emu.set_fault("apply_then_drop", delay_ms=300, count=1)
    with pytest.raises(httpx.ReadTimeout):
        await client.post("/graphql", timeout=0.1, json={
            "query": REPORT_USAGE, "operationName": "ReportUsage", "variables": {"input": USAGE}})
    assert emu.get_usage("acme", "api-calls") == 45


async def test_faulted_requests_skip_key_check(emu):
    emu.set_fault("status", status=503)
    async with httpx.AsyncClient(base_url=emu.base_url) as http:
        assert (await http.get(EDGE_PATH)).status_code == 503


async def test_invalid_fault_parameters(emu):
    with pytest.raises(ValueError):
        emu.set_fault("explode")
    with pytest.raises(ValueError):
        emu.set_fault("down", target="websocket")
    with pytest.raises(ValueError):
        emu.set_fault("down", count=0)
