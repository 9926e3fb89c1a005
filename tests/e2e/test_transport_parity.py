"""One table over shared/reference/vectors.md, through both transports: for each call,
the HTTP/JSON answer carries the same decision and data as the gRPC answer.

Each row is a vector's setup (upstream data, faults, environment) and its calls as
protobuf requests. Every call goes to the same sidecar over gRPC (generated stubs) and
over HTTP (the request's protobuf JSON as the body); the gRPC answer, written in the
API's JSON conventions (support/http_api.py), must equal the HTTP answer exactly, and a
failure must carry the same status name and message. Reads run gRPC first, so the HTTP
call is answered from the entry the gRPC call cached: the same use cases behind both.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import pytest
from google.protobuf import timestamp_pb2

from adapters.inbound.http.api_app import ENDPOINTS
from adapters.inbound.http.errors import camel_field
from sidecarpb.v1 import sidecar_pb2 as pb
from support.clients import StubCaller
from support.errors import status_message, status_name
from support.http_api import grpc_answer_as_json, http_sidecar, json_request_of
from support.requests import metered_request
from support.upstream import API_CALLS_V2, credit, feature

PATH = {e.rpc: e.path for e in ENDPOINTS}
STATUS = {"INVALID_ARGUMENT": 400, "NOT_FOUND": 404, "FAILED_PRECONDITION": 424,
          "RESOURCE_EXHAUSTED": 429, "UNAVAILABLE": 503, "UNKNOWN": 502}


def metered(customer: str, feature_id: str, requested: float | None = None, **fallback):
    return ("GetMeteredEntitlement", metered_request(customer, feature_id, requested, **fallback))


def boolean(customer: str, feature_id: str, fallback: bool | None = None):
    request = pb.GetBooleanEntitlementRequest(customer_id=customer, feature_id=feature_id)
    if fallback is not None:
        request.options.fallback.has_access = fallback
    return ("GetBooleanEntitlement", request)


def numeric(customer: str, feature_id: str):
    return ("GetNumericEntitlement", pb.GetNumericEntitlementRequest(customer_id=customer, feature_id=feature_id))


def enum(customer: str, feature_id: str, values: list[str]):
    return ("GetEnumEntitlement", pb.GetEnumEntitlementRequest(
        customer_id=customer, feature_id=feature_id,
        options=pb.EnumEntitlementOptions(requested_values=values)))


def generic(customer: str, feature_id: str, **options):
    return ("GetEntitlement", pb.GetEntitlementRequest(
        customer_id=customer, feature_id=feature_id, options=pb.GetEntitlementOptions(**options)))


def v2(customer: str, *, feature_id: str | None = None, currency_id: str | None = None, **options):
    request = pb.GetEntitlementV2Request(customer_id=customer, options=pb.GetEntitlementOptions(**options))
    if feature_id is not None:
        request.feature_id = feature_id
    if currency_id is not None:
        request.currency_id = currency_id
    return ("GetEntitlementV2", request)


def state_v2(customer: str):
    return ("GetEntitlementsStateV2", pb.GetEntitlementsStateV2Request(customer_id=customer))


def state_v1(customer: str):
    return ("GetEntitlements", pb.GetEntitlementsRequest(customer_id=customer))


def reload(customer: str):
    return ("ReloadEntitlements", pb.ReloadEntitlementsRequest(customer_id=customer))


def report_usage(customer: str, feature_id: str, value: float, **fields):
    return ("ReportUsage", pb.ReportUsageRequest(customer_id=customer, feature_id=feature_id,
                                                 value=value, **fields))


def at(text: str) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromJsonString(text)
    return stamp


@dataclass
class Vector:
    id: str
    calls: list[tuple[str, Any]]
    given: Callable[[Any], None] = lambda emulator: None
    env: dict[str, str] = field(default_factory=dict)


def upstream_has(*items, customer: str = "acme") -> Callable[[Any], None]:
    return lambda emulator: emulator.set_customer(customer, list(items))


def upstream_down(emulator) -> None:
    emulator.set_fault("status", status=503)


API_CALLS = feature("api-calls", "NUMBER", "Incremental", **API_CALLS_V2)
FALLBACK_V12 = '{"exports":{"hasAccess":true,"usageLimit":500}}'
FALLBACK_V14 = ('{"seats":{"hasAccess":true,"value":10},"exports":{"hasAccess":true,"usageLimit":500},'
                '"beta-ui":{"hasAccess":false},"region":{"hasAccess":true,"enumValues":["eu"]}}')
MEASUREMENT = {"id": "6f1c9a52-2b1e-4c1a-9d0e-5a7c3e2b8f10", "currentUsage": 47,
               "usagePeriodStart": "2025-07-01T00:00:00.000Z",
               "usagePeriodEnd": "2025-08-01T00:00:00.000Z", "timestamp": "2025-07-10T15:29:59.000Z"}


def v15_given(emulator) -> None:
    emulator.set_customer("acme", [feature("api-calls", "NUMBER", "Incremental", usageLimit=100,
                                           currentUsage=40, usageUpdatedAt="2025-07-10T15:00:00.000Z")])
    emulator.set_usage_overrides(**MEASUREMENT)


def v15_down(emulator) -> None:
    v15_given(emulator)
    emulator.set_fault("apply_then_drop", target="graphql", operation="reportUsage")


VECTORS = [
    Vector("V1", [boolean("acme", "sso"), generic("acme", "sso"), v2("acme", feature_id="sso")],
           upstream_has(feature("sso"))),
    Vector("V2", [metered("acme", "api-calls", 5), metered("acme", "api-calls", 6),
                  metered("acme", "api-calls"), generic("acme", "api-calls", requested_usage=6),
                  v2("acme", feature_id="api-calls", requested_usage=5), state_v2("acme"), state_v1("acme")],
           upstream_has(API_CALLS)),
    Vector("V2-at-limit", [metered("acme", "api-calls"), metered("acme", "api-calls", 1)],
           upstream_has(feature("api-calls", "NUMBER", "Incremental", **(API_CALLS_V2 | {"currentUsage": 100})))),
    Vector("V3", [metered("acme", "storage-gb", 10)],
           upstream_has(feature("storage-gb", "NUMBER", "Fluctuating", usageLimit=50, currentUsage=72,
                                hasSoftLimit=True))),
    Vector("V4", [metered("acme", "api-calls", 500)],
           upstream_has(feature("api-calls", "NUMBER", "Incremental", hasUnlimitedUsage=True,
                                currentUsage=1000000))),
    Vector("V5", [metered("acme", "exports"), metered("acme", "exports", 1)],
           upstream_has(feature("exports", "NUMBER", "Incremental", currentUsage=0))),
    Vector("V6", [metered("acme", "messages", 5), state_v2("acme")],
           upstream_has(feature("messages", "NUMBER", "Incremental", usageLimit=10, currentUsage=10,
                                resetPeriod="WEEK", usagePeriodAnchor="2025-05-14T08:00:00.000Z",
                                usagePeriodStart="2025-07-02T08:00:00.000Z",
                                usagePeriodEnd="2025-07-09T08:00:00.000Z"))),
    Vector("V7", [enum("acme", "region", ["eu"]), enum("acme", "region", ["eu", "apac"]),
                  enum("acme", "region", []), generic("acme", "region", requested_values=["apac"])],
           upstream_has(feature("region", "ENUM", "None", enumValues=["eu", "us"]))),
    *[Vector(f"V8-{limit}-{meter}", [numeric("acme", "seats"), generic("acme", "seats")],
             upstream_has(feature("seats", "NUMBER", meter, usageLimit=limit)))
      for limit, meter in [(25, "None"), (7.9, "None"), (30000000000, "None"), (None, "None"), (25, None)]],
    *[Vector(f"V9-{reason}", [metered("acme", "api-calls", 1), state_v2("acme")],
             upstream_has(feature("api-calls", "NUMBER", "Incremental", usageLimit=1000, currentUsage=0,
                                  isGranted=False, accessDeniedReason=reason)))
      for reason in ("BudgetExceeded", "Revoked", None)],
    Vector("V10", [boolean("acme", "api-calls"), boolean("acme", "api-calls", fallback=False),
                   boolean("acme", "api-calls", fallback=True)], upstream_has(API_CALLS)),
    Vector("V10-global", [boolean("acme", "api-calls")], upstream_has(API_CALLS),
           env={"ENTITLEMENTS_FALLBACK": '{"api-calls":{"hasAccess":true}}'}),
    Vector("V11", [boolean("ghost", "sso"), metered("ghost", "api-calls", 2), state_v2("ghost"),
                   state_v1("ghost"), reload("ghost"), v2("ghost", currency_id="usd-credits")]),
    Vector("V12", [metered("newco", "exports", 2), metered("newco", "reports"),
                   generic("newco", "exports", requested_usage=2)],
           upstream_down, env={"ENTITLEMENTS_FALLBACK": FALLBACK_V12, "ENTITLEMENTS_TIMEOUT_MS": "300"}),
    Vector("V13", [metered("newco", "exports", 2, has_access=False),
                   metered("newco", "exports", 2, has_access=True, is_unlimited=True)],
           upstream_down, env={"ENTITLEMENTS_FALLBACK": FALLBACK_V12, "ENTITLEMENTS_TIMEOUT_MS": "300"}),
    Vector("V14", [state_v2("newco"), state_v1("newco"), state_v2("")],
           upstream_down, env={"ENTITLEMENTS_FALLBACK": FALLBACK_V14, "ENTITLEMENTS_TIMEOUT_MS": "300"}),
    Vector("V15", [metered("acme", "api-calls"),
                   report_usage("acme", "api-calls", 5, update_behavior=pb.USAGE_UPDATE_BEHAVIOR_DELTA),
                   metered("acme", "api-calls"),
                   ("ReportUsageBulk", pb.ReportUsageBulkRequest(usages=[
                       pb.ReportUsageRequest(customer_id="acme", feature_id="api-calls", value=1,
                                             timestamp=at("2025-07-10T15:20:00Z"),
                                             dimensions={"region": pb.EventDimensionValue(string_value="eu")})])),
                   ("ReportEvents", pb.ReportEventsRequest(events=[pb.Event(
                       event_name="export", customer_id="acme", idempotency_key="e-1",
                       dimensions={"rows": pb.EventDimensionValue(number_value=3)})])),
                   reload("acme")], v15_given),
    # Failures: the same status name and message on both.
    Vector("V15-unavailable", [report_usage("acme", "api-calls", 5)], v15_down),
    Vector("invalid-write", [report_usage("", "api-calls", 5),
                             ("ReportUsageBulk", pb.ReportUsageBulkRequest(usages=[
                                 pb.ReportUsageRequest(customer_id="acme", feature_id="", value=1)])),
                             ("ReportEvents", pb.ReportEventsRequest(events=[pb.Event(
                                 event_name="x", customer_id="acme")]))]),
    Vector("credit", [v2("acme", currency_id="usd-credits", requested_usage=10),
                      v2("acme", currency_id="usd-credits", requested_usage=1000), state_v2("acme")],
           upstream_has(credit("usd-credits", usageLimit=500, currentUsage=120,
                               currency={"displayName": "USD credits", "unitPlural": "credits",
                                         "additionalMetaData": {"tier": "gold", "n": 1}}))),
]


def _grpc_message_in_api_terms(message: str) -> str:
    """gRPC names the invalid field in snake case first (``usages[0].feature_id ...``)."""
    first, _, rest = message.partition(" ")
    return f"{camel_field(first)} {rest}" if "_" in first else message


@pytest.mark.parametrize("vector", VECTORS, ids=[v.id for v in VECTORS])
async def test_http_and_grpc_answer_alike(monkeypatch, emulator, vector):
    vector.given(emulator)
    async with http_sidecar(monkeypatch, emulator, **vector.env) as (app, http):
        grpc = StubCaller(app.grpc_port)
        try:
            for rpc, request in vector.calls:
                try:
                    expected: Any = grpc_answer_as_json(await grpc.call(rpc, request))
                except Exception as error:  # noqa: BLE001 - compared with the HTTP failure
                    name = status_name(error)
                    expected = (STATUS[name], {"code": name,
                                               "message": _grpc_message_in_api_terms(status_message(error))})
                response = await http.post(PATH[rpc], json=json_request_of(request))
                if isinstance(expected, tuple):
                    status, error_fields = expected
                    assert response.status_code == status, (rpc, response.text)
                    body = response.json()["error"]
                    assert {k: body[k] for k in error_fields} == error_fields, rpc
                else:
                    assert response.status_code == 200, (rpc, response.text)
                    assert response.json() == expected, rpc
        finally:
            await grpc.close()
