"""GraphQL, Edge and routing adapters over httpx.MockTransport: requests sent, answers read."""
from __future__ import annotations

from tests.fakes.telemetry import RecordingTelemetry

import json
from typing import Any

import httpx
import pytest

from adapters.outbound import stigg_documents as docs
from adapters.outbound.stigg_edge import EdgeEntitlementSource
from adapters.outbound.stigg_graphql import (
    GraphqlEntitlementSource, GraphqlEventReporter, GraphqlKeyCheck, GraphqlUsageReporter,
)
from adapters.outbound.stigg_routing import RoutingEntitlementSource
from domain.model.budget import Budget
from domain.model.entitlement import EntitlementSet
from domain.model.identifiers import CustomerKey
from domain.model.kinds import AccessDeniedReason, UsageUpdateBehavior
from domain.model.reports import Event, UsageReport
from ports.clock import Clock
from ports.entitlement_source import EntitlementSource
from ports.errors import UpstreamAuthError, UpstreamRejectedError, UpstreamUnavailableError
from ports.telemetry import Telemetry
from ports.usage_reporter import EventReporter, UsageReporter

NOW_MS = 1_752_161_400_000
STATE = {"entitlementsState": {"accessDeniedReason": None, "entitlementsV2": [{
    "__typename": "FeatureEntitlement", "isGranted": True, "hasUnlimitedUsage": False,
    "entitlementUpdatedAt": "2025-07-10T15:00:00.000Z",
    "feature": {"refId": "flag", "featureType": "BOOLEAN", "displayName": "Flag"}}]}}


class Time(Clock):
    def __init__(self) -> None:
        self.now = 50.0
        self.sleeps: list[float] = []

    def now_ms(self) -> int:
        return NOW_MS

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


Recording = RecordingTelemetry


class Server:
    def __init__(self, *answers: httpx.Response) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def body(self, index: int = -1) -> dict[str, Any]:
        return json.loads(self.requests[index].content)


def kwargs(server: Server, time: Time, telemetry: Telemetry | None = None) -> dict[str, Any]:
    return dict(transport=httpx.MockTransport(server), api_key="k",
                instance_id="i", user_agent="ua", clock=time, telemetry=telemetry or Recording(),
                sleep=time.sleep, uniform=lambda low, high: high)


def data(payload: Any) -> httpx.Response:
    return httpx.Response(200, json={"data": payload})


def budget(time: Time) -> Budget:
    return Budget.starting(time.now, 10)


def usage(customer: str = "c-1", resource: str | None = None, **fields: Any) -> UsageReport:
    return UsageReport(key=CustomerKey.of(customer, resource), feature_id=fields.pop("feature_id", "api-calls"),
                       value=fields.pop("value", 2.0), idempotency_key=fields.pop("idempotency_key", "idem-1"),
                       **fields)


def measurement(customer: str = "c-1", resource: str | None = None, feature: str = "api-calls") -> dict[str, Any]:
    return {"id": f"m-{feature}", "featureId": feature, "customerId": customer, "resourceId": resource,
            "currentUsage": 5, "usagePeriodStart": None, "usagePeriodEnd": None, "nextResetDate": None,
            "timestamp": "2025-07-10T15:00:00.000Z", "credit": None}


def test_adapters_implement_their_ports() -> None:
    assert issubclass(GraphqlEntitlementSource, EntitlementSource)
    assert issubclass(EdgeEntitlementSource, EntitlementSource)
    assert issubclass(RoutingEntitlementSource, EntitlementSource)
    assert issubclass(GraphqlUsageReporter, UsageReporter)
    assert issubclass(GraphqlEventReporter, EventReporter)


@pytest.mark.parametrize("key,query", [
    (CustomerKey("c-1"), {"customerId": "c-1"}),
    (CustomerKey("c-1", "r-1"), {"customerId": "c-1", "resourceId": "r-1"}),
])
async def test_graphql_fetch_sends_get_entitlements_state(key: CustomerKey, query: dict[str, str]) -> None:
    time, server = Time(), Server(data(STATE))
    source = GraphqlEntitlementSource(api_url="http://api.test/", **kwargs(server, time))
    result = await source.fetch(key, consistent=True, budget=budget(time))
    assert str(server.requests[0].url) == "http://api.test/graphql"
    assert server.body() == {"query": docs.GET_ENTITLEMENTS_STATE, "operationName": "GetEntitlementsState",
                             "variables": {"query": query}}
    assert result.key == key and result.feature("flag") is not None
    assert result.timestamp_ms == 1_752_159_600_000


async def test_fetch_failures_are_not_counted_by_the_adapter() -> None:
    time, telemetry = Time(), Recording()
    source = GraphqlEntitlementSource(api_url="http://api.test", **kwargs(Server(httpx.Response(401)), time, telemetry))
    with pytest.raises(UpstreamAuthError):
        await source.fetch(CustomerKey("c"), consistent=False, budget=budget(time))
    assert telemetry.upstream_errors == []


async def test_edge_fetch_encodes_the_customer_and_passes_the_resource() -> None:
    time, server = Time(), Server(data(STATE))
    source = EdgeEntitlementSource(edge_url="http://edge.test/", **kwargs(server, time))
    result = await source.fetch(CustomerKey("a/b?c#d e", "r/1 2"), consistent=False, budget=budget(time))
    request = server.requests[0]
    assert request.method == "GET"
    assert request.url.raw_path == b"/v1/c/a%2Fb%3Fc%23d%20e/entitlements-state.json?resourceId=r%2F1+2"
    assert request.url.params["resourceId"] == "r/1 2"
    assert result.key == CustomerKey("a/b?c#d e", "r/1 2")


async def test_edge_without_resource_has_no_query_string() -> None:
    time, server = Time(), Server(data(STATE))
    await EdgeEntitlementSource(edge_url="http://edge.test", **kwargs(server, time)).fetch(
        CustomerKey("c"), consistent=False, budget=budget(time))
    assert server.requests[0].url.raw_path == b"/v1/c/c/entitlements-state.json"


async def test_edge_refuses_consistent_reads() -> None:
    time, server = Time(), Server(data(STATE))
    with pytest.raises(ValueError):
        await EdgeEntitlementSource(edge_url="http://edge.test", **kwargs(server, time)).fetch(
            CustomerKey("c"), consistent=True, budget=budget(time))
    assert server.requests == []


async def test_edge_customer_not_found_is_in_band() -> None:
    time = Time()
    server = Server(data({"entitlementsState": {"accessDeniedReason": "CustomerNotFound", "entitlementsV2": []}}))
    result = await EdgeEntitlementSource(edge_url="http://edge.test", **kwargs(server, time)).fetch(
        CustomerKey("ghost"), consistent=False, budget=budget(time))
    assert result.customer_reason is AccessDeniedReason.CUSTOMER_NOT_FOUND and result.features == ()


class Named(EntitlementSource):
    def __init__(self, name: str) -> None:
        self.name, self.calls = name, []

    async def fetch(self, key: CustomerKey, *, consistent: bool, budget: Budget) -> EntitlementSet:
        self.calls.append(consistent)
        return EntitlementSet(key)


@pytest.mark.parametrize("edge_enabled,consistent,expected", [
    (True, True, "graphql"), (True, False, "edge"), (False, True, "graphql"), (False, False, "graphql"),
])
async def test_routing(edge_enabled: bool, consistent: bool, expected: str) -> None:
    graphql, edge = Named("graphql"), Named("edge")
    routing = RoutingEntitlementSource(graphql=graphql, edge=edge, edge_enabled=edge_enabled)
    await routing.fetch(CustomerKey("c"), consistent=consistent, budget=Budget(0))
    assert (graphql if expected == "graphql" else edge).calls == [consistent]
    assert (edge if expected == "graphql" else graphql).calls == []


async def test_routing_without_an_edge_source() -> None:
    graphql = Named("graphql")
    await RoutingEntitlementSource(graphql, None, edge_enabled=False).fetch(
        CustomerKey("c"), consistent=False, budget=Budget(0))
    assert graphql.calls == [False]
    with pytest.raises(ValueError):
        RoutingEntitlementSource(graphql, None, edge_enabled=True)


async def test_one_usage_item_uses_report_usage_with_a_minimal_input() -> None:
    time, server = Time(), Server(data({"reportUsage": measurement()}))
    reporter = GraphqlUsageReporter(api_url="http://api.test", **kwargs(server, time))
    (ack,) = await reporter.report([usage()], budget(time))
    body = server.body()
    assert body["query"] == docs.REPORT_USAGE and body["operationName"] == "ReportUsage"
    assert server.requests[0].headers["x-graphql-operation-name"] == "ReportUsage"
    assert body["variables"] == {"input": {"customerId": "c-1", "featureId": "api-calls", "value": 2.0,
                                           "idempotencyKey": "idem-1"}}
    assert (ack.measurement_id, ack.key, ack.current_usage) == ("m-api-calls", CustomerKey("c-1"), 5.0)


async def test_usage_input_carries_every_optional_field_when_set() -> None:
    time, server = Time(), Server(data({"reportUsage": measurement("c-1", "r-1")}))
    reporter = GraphqlUsageReporter(api_url="http://api.test", **kwargs(server, time))
    item = usage("c-1", "r-1", update_behavior=UsageUpdateBehavior.SET, timestamp_ms=1_752_159_600_042,
                 dimensions={"region": "eu", "tokens": 3.0, "beta": True}, value=-1.5)
    (ack,) = await reporter.report([item], budget(time))
    assert server.body()["variables"]["input"] == {
        "customerId": "c-1", "resourceId": "r-1", "featureId": "api-calls", "value": -1.5,
        "idempotencyKey": "idem-1", "updateBehavior": "SET", "createdAt": "2025-07-10T15:00:00.042Z",
        "dimensions": {"region": "eu", "tokens": 3.0, "beta": True},
    }
    assert ack.key == CustomerKey("c-1", "r-1")


async def test_several_items_use_report_usage_bulk_and_acks_keep_order() -> None:
    time = Time()
    server = Server(data({"reportUsageBulk": [measurement("a", feature="f1"), measurement("b", "r", "f2")]}))
    reporter = GraphqlUsageReporter(api_url="http://api.test", **kwargs(server, time))
    acks = await reporter.report([usage("a", feature_id="f1", idempotency_key="k1"),
                                  usage("b", "r", feature_id="f2", idempotency_key="k2",
                                        update_behavior=UsageUpdateBehavior.DELTA)], budget(time))
    body = server.body()
    assert body["query"] == docs.REPORT_USAGE_BULK and body["operationName"] == "ReportUsageBulk"
    assert body["variables"] == {"input": {"usages": [
        {"customerId": "a", "featureId": "f1", "value": 2.0, "idempotencyKey": "k1"},
        {"customerId": "b", "resourceId": "r", "featureId": "f2", "value": 2.0, "idempotencyKey": "k2",
         "updateBehavior": "DELTA"},
    ]}}
    assert [(a.key, a.feature_id) for a in acks] == [(CustomerKey("a"), "f1"), (CustomerKey("b", "r"), "f2")]


async def test_usage_credit_ack() -> None:
    time = Time()
    answer = {**measurement(), "credit": {"currencyId": "usd", "currentUsage": 9, "usagePeriodEnd": None,
                                          "timestamp": "2025-07-10T15:00:00.000Z", "consumed": 2}}
    server = Server(data({"reportUsage": answer}))
    (ack,) = await GraphqlUsageReporter(api_url="http://api.test", **kwargs(server, time)).report(
        [usage()], budget(time))
    assert ack.credit is not None and (ack.credit.currency_id, ack.credit.current_usage) == ("usd", 9.0)


async def test_no_items_no_call() -> None:
    time, server = Time(), Server(data({}))
    assert await GraphqlUsageReporter(api_url="http://a", **kwargs(server, time)).report([], budget(time)) == []
    await GraphqlEventReporter(api_url="http://a", **kwargs(server, time)).report([], budget(time))
    assert server.requests == []


async def test_usage_retries_resend_the_same_idempotency_key() -> None:
    time = Time()
    server = Server(httpx.Response(503), httpx.Response(502), data({"reportUsage": measurement()}))
    reporter = GraphqlUsageReporter(api_url="http://api.test", **kwargs(server, time))
    await reporter.report([usage(idempotency_key="once")], budget(time))
    assert len(server.requests) == 3
    assert {server.body(i)["variables"]["input"]["idempotencyKey"] for i in range(3)} == {"once"}


@pytest.mark.parametrize("answer,expected,auth", [
    (httpx.Response(401), UpstreamAuthError, True),
    (httpx.Response(503), UpstreamUnavailableError, False),
    (data({"reportUsage": None}), UpstreamRejectedError, False),
])
async def test_a_failed_mutation_is_counted_once(answer: httpx.Response, expected: type, auth: bool) -> None:
    time, telemetry = Time(), Recording()
    server = Server(answer)
    reporter = GraphqlUsageReporter(api_url="http://api.test", **kwargs(server, time, telemetry))
    with pytest.raises(expected):
        await reporter.report([usage()], budget(time))
    assert telemetry.upstream_errors == [auth]


async def test_events_are_sent_in_one_report_event() -> None:
    time, server = Time(), Server(data({"reportEvent": None}))
    events = [Event("login", CustomerKey("c-1"), "e-1"),
              Event("upload", CustomerKey("c-2", "r-2"), "e-2", {"bytes": 10.0}, 1_752_159_600_000)]
    await GraphqlEventReporter(api_url="http://api.test", **kwargs(server, time)).report(events, budget(time))
    body = server.body()
    assert body["query"] == docs.REPORT_EVENT and body["operationName"] == "ReportEvent"
    assert body["variables"] == {"input": {"usageEvents": [
        {"customerId": "c-1", "eventName": "login", "idempotencyKey": "e-1"},
        {"customerId": "c-2", "resourceId": "r-2", "eventName": "upload", "idempotencyKey": "e-2",
         "dimensions": {"bytes": 10.0}, "timestamp": "2025-07-10T15:00:00.000Z"},
    ]}}


async def test_a_failed_event_report_is_counted_once() -> None:
    time, telemetry = Time(), Recording()
    server = Server(httpx.Response(200, json={"errors": [{"message": "x", "extensions": {"code": "Unauthenticated"}}]}))
    with pytest.raises(UpstreamAuthError):
        await GraphqlEventReporter(api_url="http://api.test", **kwargs(server, time, telemetry)).report(
            [Event("e", CustomerKey("c"), "k")], budget(time))
    assert telemetry.upstream_errors == [True]


async def test_key_check() -> None:
    time, telemetry = Time(), Recording()
    server = Server(data({"sdkConfiguration": {"isWidgetWatermarkEnabled": False}}))
    check = GraphqlKeyCheck(api_url="http://api.test", **kwargs(server, time, telemetry))
    await check.check(budget(time))
    assert server.body() == {"query": docs.SDK_CONFIGURATION, "operationName": "SdkConfiguration", "variables": {}}
    server.answers = [httpx.Response(403)]
    with pytest.raises(UpstreamAuthError):
        await check.check(budget(time))
    assert telemetry.upstream_errors == []
