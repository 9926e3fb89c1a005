"""Stigg adapters against a real loopback HTTP server (aiohttp) that speaks Stigg's shapes.

The stand-in validates every received GraphQL document *and its variables* against the
upstream schema with graphql-core, answering 400 ``GRAPHQL_VALIDATION_FAILED`` as Apollo
would, so a wrong input field name fails these tests too.
"""
from __future__ import annotations

import asyncio
import time
from urllib.parse import parse_qs
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator

import httpx
from multidict import CIMultiDict
import pytest
from aiohttp import web
from graphql import GraphQLSchema, OperationDefinitionNode, build_schema, parse, validate
from graphql.execution.values import get_variable_values

from adapters.outbound import stigg_documents as docs
from adapters.outbound.stigg_edge import EdgeEntitlementSource
from adapters.outbound.stigg_graphql import (
    GraphqlEntitlementSource, GraphqlEventReporter, GraphqlKeyCheck, GraphqlUsageReporter,
)
from adapters.outbound.system_clock import SystemClock
from domain.model.budget import Budget
from domain.model.identifiers import CustomerKey
from domain.model.kinds import AccessDeniedReason
from domain.model.reports import Event, UsageReport
from ports.errors import UpstreamAuthError, UpstreamUnavailableError
from ports.telemetry import NullTelemetry
from tests.support.http_transport import production_http_transport

SCHEMA_PATH = Path(__file__).parents[2] / "devtools/stigg_emulator/stigg-schema.graphql"
API_KEY = "loopback-key"
UPDATED_AT = "2025-07-10T15:00:00.000Z"
STATE = {"accessDeniedReason": None, "entitlementsV2": [
    {"__typename": "FeatureEntitlement", "isGranted": True, "accessDeniedReason": None,
     "usageLimit": 100, "hasUnlimitedUsage": False, "hasSoftLimit": None, "currentUsage": 42,
     "enumValues": None, "entitlementUpdatedAt": UPDATED_AT, "usageUpdatedAt": UPDATED_AT,
     "usagePeriodAnchor": None, "usagePeriodStart": None, "usagePeriodEnd": None,
     "resetPeriod": None, "validUntil": None, "creditRate": None, "resetPeriodConfiguration": None,
     "meterId": "extra-field-from-edge",
     "feature": {"refId": "api-calls", "featureType": "NUMBER", "meterType": "Incremental",
                 "featureUnits": None, "featureUnitsPlural": None, "displayName": "API calls",
                 "description": None}}]}


@dataclass
class Step:
    """One scripted answer; ``delay_s`` holds it back (interruptible at teardown)."""

    status: int = 200
    body: Any = None
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    #: Abort the connection instead of answering (a crash or reset mid-request).
    drop: bool = False


@dataclass
class Seen:
    method: str
    raw_path: str
    headers: CIMultiDict  # header names are case-insensitive (RFC 9110 §5.1)
    json: Any
    match: dict[str, str]


class LoopbackStigg:
    def __init__(self, schema: GraphQLSchema) -> None:
        self.schema = schema
        self.script: list[Step] = []
        self.seen: list[Seen] = []
        self.closing = asyncio.Event()
        self.url = ""
        app = web.Application()
        app.router.add_post("/graphql", self._graphql)
        app.router.add_get("/v1/c/{customer}/entitlements-state.json", self._edge)
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def stop(self) -> None:
        self.closing.set()
        await self._runner.cleanup()

    async def _answer(self, request: web.Request, default: Any) -> web.Response:
        step = self.script.pop(0) if self.script else Step(body=default)
        if step.delay_s:
            try:
                await asyncio.wait_for(self.closing.wait(), step.delay_s)
            except asyncio.TimeoutError:
                pass
        if step.drop and request.transport is not None:
            request.transport.abort()
        return web.json_response(step.body, status=step.status, headers=step.headers)

    async def _record(self, request: web.Request, body: Any) -> None:
        self.seen.append(Seen(request.method, request.raw_path, CIMultiDict(request.headers), body,
                              dict(request.match_info)))

    async def _edge(self, request: web.Request) -> web.Response:
        await self._record(request, None)
        if request.headers.get("X-API-KEY") != API_KEY:
            return web.json_response({"message": "Unauthorized"}, status=401)
        return await self._answer(request, {"data": {"entitlementsState": STATE}})

    async def _graphql(self, request: web.Request) -> web.Response:
        body = await request.json()
        await self._record(request, body)
        problems = self._problems(body)
        if problems:
            return web.json_response({"errors": [{"message": p, "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}}
                                                 for p in problems]}, status=400)
        operation = body.get("operationName")
        if operation == "ReportUsage":
            default: Any = {"data": {"reportUsage": _measurement(body["variables"]["input"])}}
        else:
            default = {
                "GetEntitlementsState": {"data": {"entitlementsState": STATE}},
                "SdkConfiguration": {"data": {"sdkConfiguration": {"isWidgetWatermarkEnabled": False}}},
                "ReportEvent": {"data": {"reportEvent": None}},
            }.get(operation)
        return await self._answer(request, default)

    def _problems(self, body: dict[str, Any]) -> list[str]:
        document = parse(body["query"])
        errors = [e.message for e in validate(self.schema, document)]
        if errors:
            return errors
        (operation,) = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if operation.name is None or operation.name.value != body.get("operationName"):
            return ["operationName does not match the document"]
        coerced = get_variable_values(self.schema, operation.variable_definitions or (), body.get("variables") or {})
        return [e.message for e in coerced] if isinstance(coerced, list) else []


def _measurement(item: dict[str, Any]) -> dict[str, Any]:
    return {"id": "00000000-0000-0000-0000-000000000001", "featureId": item["featureId"],
            "customerId": item["customerId"], "resourceId": item.get("resourceId"), "currentUsage": 3,
            "usagePeriodStart": None, "usagePeriodEnd": None, "nextResetDate": None,
            "timestamp": UPDATED_AT, "credit": None}


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return build_schema(SCHEMA_PATH.read_text())


@pytest.fixture
async def stigg(schema: GraphQLSchema) -> AsyncIterator[LoopbackStigg]:
    server = LoopbackStigg(schema)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def transport() -> AsyncIterator[httpx.AsyncBaseTransport]:
    async with production_http_transport() as shared:
        yield shared


CLOCK = SystemClock()


def wiring(transport: httpx.AsyncBaseTransport, api_key: str = API_KEY) -> dict[str, Any]:
    return dict(transport=transport, api_key=api_key, instance_id="inst-7", user_agent="stigg-sidecar-py/it",
                clock=CLOCK, telemetry=NullTelemetry())


def budget(seconds: float = 5.0) -> Budget:
    return Budget.starting(CLOCK.monotonic(), seconds)


async def test_edge_read_encodes_the_customer_and_sends_the_resource(stigg: LoopbackStigg, transport: httpx.AsyncBaseTransport) -> None:
    source = EdgeEntitlementSource(edge_url=stigg.url + "/", **wiring(transport))
    key = CustomerKey("acme/eu?x#1 2%+", "site 1/a&b=c%+")
    result = await source.fetch(key, consistent=False, budget=budget())
    (seen,) = stigg.seen
    path, _, query = seen.raw_path.partition("?")
    # The path segment exactly as we encode it; the query's encoding is the transport's
    # (aiohttp leaves "/" unescaped there, as RFC 3986 allows): compare it decoded.
    assert path == "/v1/c/acme%2Feu%3Fx%231%202%25%2B/entitlements-state.json"
    assert parse_qs(query) == {"resourceId": ["site 1/a&b=c%+"]}
    assert seen.match["customer"] == "acme/eu?x#1 2%+"
    assert seen.headers["X-API-KEY"] == API_KEY and seen.headers["X-API-VERSION"] == "1"
    assert seen.headers["User-Agent"] == "stigg-sidecar-py/it" and seen.headers["X-SDK-INSTANCE-ID"] == "inst-7"
    assert result.key == key
    entitlement = result.feature("api-calls")
    assert entitlement is not None and entitlement.usage.current_usage == 42 and entitlement.has_soft_limit is False


async def test_a_set_cookie_is_neither_kept_nor_sent_back(stigg: LoopbackStigg, transport: httpx.AsyncBaseTransport) -> None:
    # By host name: aiohttp's default cookie jar ignores cookies of an IP address, so
    # only a named host shows whether the transport keeps them.
    named = stigg.url.replace("127.0.0.1", "localhost")
    source = EdgeEntitlementSource(edge_url=named, **wiring(transport))
    cookie = {"Set-Cookie": "AWSALB=sticky; Path=/"}
    stigg.script = [Step(body={"data": {"entitlementsState": STATE}}, headers=cookie)] * 2
    for _ in range(2):
        await source.fetch(CustomerKey("acme", None), consistent=False, budget=budget())
    assert [seen.headers.get("Cookie") for seen in stigg.seen] == [None, None]


async def test_graphql_read(stigg: LoopbackStigg, transport: httpx.AsyncBaseTransport) -> None:
    source = GraphqlEntitlementSource(api_url=stigg.url, **wiring(transport))
    result = await source.fetch(CustomerKey("c-1", "r-1"), consistent=True, budget=budget())
    (seen,) = stigg.seen
    assert seen.headers["x-graphql-operation-name"] == "GetEntitlementsState"
    assert seen.headers["Content-Type"].startswith("application/json")
    assert seen.json["variables"] == {"query": {"customerId": "c-1", "resourceId": "r-1"}}
    assert result.feature("api-calls") is not None and result.timestamp_ms == 1_752_159_600_000


async def test_graphql_customer_not_found_is_in_band(stigg: LoopbackStigg, transport: httpx.AsyncBaseTransport) -> None:
    stigg.script = [Step(body={"data": {"entitlementsState": {"accessDeniedReason": "CustomerNotFound",
                                                              "entitlementsV2": []}}})]
    result = await GraphqlEntitlementSource(api_url=stigg.url, **wiring(transport)).fetch(
        CustomerKey("ghost"), consistent=True, budget=budget())
    assert result.customer_reason is AccessDeniedReason.CUSTOMER_NOT_FOUND and result.timestamp_ms == 0


async def test_401_is_an_auth_error(stigg: LoopbackStigg, transport: httpx.AsyncBaseTransport) -> None:
    source = EdgeEntitlementSource(edge_url=stigg.url, **wiring(transport, api_key="wrong-key"))
    with pytest.raises(UpstreamAuthError) as caught:
        await source.fetch(CustomerKey("c"), consistent=False, budget=budget())
    assert len(stigg.seen) == 1 and "wrong-key" not in str(caught.value)


async def test_503_then_success_is_retried(stigg: LoopbackStigg, transport: httpx.AsyncBaseTransport) -> None:
    stigg.script = [Step(503, {"message": "busy"})]
    result = await GraphqlEntitlementSource(api_url=stigg.url, **wiring(transport)).fetch(
        CustomerKey("c"), consistent=True, budget=budget())
    assert len(stigg.seen) == 2 and result.feature("api-calls") is not None


async def test_a_slow_server_cannot_hold_the_call_past_its_budget(stigg: LoopbackStigg, transport: httpx.AsyncBaseTransport) -> None:
    stigg.script = [Step(body={"data": {"entitlementsState": STATE}}, delay_s=5.0)]
    source = EdgeEntitlementSource(edge_url=stigg.url, **wiring(transport))
    started = time.monotonic()
    with pytest.raises(UpstreamUnavailableError) as caught:
        await source.fetch(CustomerKey("c"), consistent=False, budget=budget(0.5))
    assert time.monotonic() - started < 0.5 + 0.15
    assert caught.value.message.startswith("timed out after "), caught.value.message


async def test_a_dropped_connection_is_a_connection_failure_not_a_timeout(
        stigg: LoopbackStigg, transport: httpx.AsyncBaseTransport) -> None:
    """httpx-aiohttp maps "Server disconnected" to httpx.ConnectTimeout; the message
    must still say what happened, and fast (every attempt dropped: retried, then failed).
    aiohttp itself resends an idempotent request once when a reused keep-alive
    connection turns out closed, so upstream may see more requests than our attempts."""
    stigg.script = [Step(drop=True) for _ in range(20)]
    source = EdgeEntitlementSource(edge_url=stigg.url, **wiring(transport))
    started = time.monotonic()
    with pytest.raises(UpstreamUnavailableError) as caught:
        await source.fetch(CustomerKey("c"), consistent=False, budget=budget(5.0))
    assert time.monotonic() - started < 2.5  # backoff ≤ 0.25 + 0.5 + 1.0 s
    assert 4 <= len(stigg.seen) <= 8
    assert caught.value.message.startswith("connection failed: ServerDisconnectedError"), caught.value.message


@pytest.mark.parametrize("answer", [
    b"garbage\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX-Big: " + b"x" * 9000 + b"\r\nContent-Length: 2\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(200)) + b"Content-Length: 2\r\n\r\n{}",
], ids=["garbage status line", "9000-byte header", "200 headers"])
async def test_a_response_the_transport_rejects_is_a_retried_connection_failure(
        transport: httpx.AsyncBaseTransport, answer: bytes) -> None:
    """aiohttp's parser errors reach StiggHttp as aiohttp exceptions (httpx-aiohttp maps
    only connection errors and timeouts): an upstream error, retried, never a crash."""
    requests = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal requests
        try:
            await reader.readuntil(b"\r\n\r\n")
            requests += 1
            writer.write(answer)
            await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        source = EdgeEntitlementSource(edge_url=f"http://127.0.0.1:{port}", **wiring(transport))
        with pytest.raises(UpstreamUnavailableError) as caught:
            await source.fetch(CustomerKey("c"), consistent=False, budget=budget(5.0))
    finally:
        server.close()
        await server.wait_closed()
    assert caught.value.message.startswith("connection failed: "), caught.value.message
    assert requests >= 4  # every attempt of the retry policy was made


async def test_a_refused_connection_is_a_connection_failure(transport: httpx.AsyncBaseTransport) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = EdgeEntitlementSource(edge_url=f"http://127.0.0.1:{port}", **wiring(transport))
    with pytest.raises(UpstreamUnavailableError) as caught:
        await source.fetch(CustomerKey("c"), consistent=False, budget=budget(0.2))
    assert caught.value.message.startswith("connection failed: "), caught.value.message
    assert "timed out" not in caught.value.message


async def test_retries_stop_at_the_budget(stigg: LoopbackStigg, transport: httpx.AsyncBaseTransport) -> None:
    stigg.script = [Step(503, delay_s=0.2) for _ in range(10)]
    source = GraphqlEntitlementSource(api_url=stigg.url, **wiring(transport))
    started = time.monotonic()
    with pytest.raises(UpstreamUnavailableError):
        await source.fetch(CustomerKey("c"), consistent=True, budget=budget(0.7))
    assert time.monotonic() - started < 0.7 + 0.15
    assert 1 <= len(stigg.seen) <= 4


async def test_usage_retry_keeps_the_same_idempotency_key(stigg: LoopbackStigg, transport: httpx.AsyncBaseTransport) -> None:
    stigg.script = [Step(503), Step(502)]
    reporter = GraphqlUsageReporter(api_url=stigg.url, **wiring(transport))
    item = UsageReport(CustomerKey("c-1", "r-1"), "api-calls", 2.0, "idem-123", timestamp_ms=1_752_159_600_000,
                       dimensions={"region": "eu"})
    (ack,) = await reporter.report([item], budget())
    keys = [seen.json["variables"]["input"]["idempotencyKey"] for seen in stigg.seen]
    assert keys == ["idem-123"] * 3
    assert stigg.seen[-1].json["variables"]["input"]["createdAt"] == "2025-07-10T15:00:00.000Z"
    assert ack.key == CustomerKey("c-1", "r-1") and ack.current_usage == 3


async def test_usage_bulk_input_matches_the_schema(stigg: LoopbackStigg, transport: httpx.AsyncBaseTransport) -> None:
    items = [UsageReport(CustomerKey(f"c-{i}"), "api-calls", float(i), f"k-{i}") for i in range(3)]
    stigg.script = [Step(body={"data": {"reportUsageBulk": [
        _measurement({"featureId": "api-calls", "customerId": f"c-{i}"}) for i in range(3)]}})]
    acks = await GraphqlUsageReporter(api_url=stigg.url, **wiring(transport)).report(items, budget())
    assert [a.key.customer_id for a in acks] == ["c-0", "c-1", "c-2"]
    assert stigg.seen[0].json["operationName"] == "ReportUsageBulk"


async def test_an_events_chunk_passes_through(stigg: LoopbackStigg, transport: httpx.AsyncBaseTransport) -> None:
    events = [Event(f"event-{i % 7}", CustomerKey(f"c-{i % 3}", "r" if i % 2 else None), f"key-{i}",
                    {"n": float(i)} if i % 5 == 0 else {}, 1_752_159_600_000 + i if i % 4 == 0 else None)
              for i in range(1000)]
    await GraphqlEventReporter(api_url=stigg.url, **wiring(transport)).report(events, budget())
    (seen,) = stigg.seen
    sent = seen.json["variables"]["input"]["usageEvents"]
    assert [e["idempotencyKey"] for e in sent] == [f"key-{i}" for i in range(1000)]
    assert sent[4] == {"customerId": "c-1", "eventName": "event-4", "idempotencyKey": "key-4",
                       "timestamp": "2025-07-10T15:00:00.004Z"}
    assert sent[5]["dimensions"] == {"n": 5.0} and sent[5]["resourceId"] == "r"


async def test_key_check(stigg: LoopbackStigg, transport: httpx.AsyncBaseTransport) -> None:
    await GraphqlKeyCheck(api_url=stigg.url, **wiring(transport)).check(budget())
    assert stigg.seen[0].json["operationName"] == "SdkConfiguration"
    stigg.script = [Step(200, {"data": None, "errors": [{"message": "Unauthenticated",
                                                          "extensions": {"code": "Unauthenticated"}}]})]
    with pytest.raises(UpstreamAuthError):
        await GraphqlKeyCheck(api_url=stigg.url, **wiring(transport)).check(budget())


async def test_the_stand_in_rejects_variables_that_do_not_match_the_schema(
        stigg: LoopbackStigg) -> None:
    bad = {"customerId": "c", "featureId": "f", "value": 1, "createdAtMs": 5}
    async with httpx.AsyncClient(trust_env=False) as client:
        response = await client.post(stigg.url + "/graphql", json={
            "query": docs.REPORT_USAGE, "operationName": "ReportUsage", "variables": {"input": bad}})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
