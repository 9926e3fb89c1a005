"""The OpenAPI 3.1 document of the HTTP/JSON API, built from the same tables as the code.

Served at ``GET /openapi.json``; committed at docs/openapi.json (a test fails when the two
differ). Regenerate with ``python -m adapters.inbound.http.openapi > docs/openapi.json``
(with ``src`` on ``PYTHONPATH``).
"""
from __future__ import annotations

import json
from typing import Any

from adapters.inbound.http.errors import HTTP_STATUS, INTERNAL_STATUS, TOO_LARGE_STATUS
from adapters.inbound.error_policy import FailureKind
from domain.model.fallback import INT32_MAX, INT32_MIN
from domain.model.kinds import AccessDeniedReason, FeatureType, MeterType, ResetPeriod, UsageUpdateBehavior
from domain.model.validation import MAX_ID_LENGTH

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    """Request fields accept ``null`` as "not given"."""
    if "type" in schema and "$ref" not in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        return schema if "null" in types else {**schema, "type": [*types, "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def obj(properties: dict[str, Schema], required: tuple[str, ...] = (), description: str = "") -> Schema:
    schema: Schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    if description:
        schema["description"] = description
    return schema


def request(properties: dict[str, Schema], description: str = "") -> Schema:
    return obj({name: nullable(s) for name, s in properties.items()}, description=description)


STRING: Schema = {"type": "string"}
NUMBER: Schema = {"type": "number"}
BOOLEAN: Schema = {"type": "boolean"}
TIME: Schema = {"type": "string", "format": "date-time",
                "description": "ISO-8601 UTC with milliseconds, e.g. 2025-07-01T00:00:00.000Z"}
INT32: Schema = {"type": "integer", "format": "int32", "minimum": INT32_MIN, "maximum": INT32_MAX}
STRINGS: Schema = {"type": "array", "items": STRING}
READ_ID: Schema = {"type": "string", "description":
                   "Empty or longer than 1024 characters: answered with the fallback (no upstream call)."}
WRITE_ID: Schema = {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH}
DIMENSIONS: Schema = {"type": "object", "maxProperties": 100,
                      "additionalProperties": {"type": ["string", "number", "boolean"]}}

KEY = {"customerId": READ_ID, "resourceId": {"type": "string", "description": "Empty means none."}}


def _enum(values: list[str], description: str) -> Schema:
    return {"type": "string", "enum": values, "description": description}


def _fallback(*names: str) -> Schema:
    every = {"hasAccess": BOOLEAN, "value": INT32, "isUnlimited": BOOLEAN, "usageLimit": NUMBER,
             "enumValues": STRINGS}
    return request({n: every[n] for n in names},
                   "Replaces the ENTITLEMENTS_FALLBACK entry whole (no field merge).")


def _check(options: dict[str, Schema], *, currency: bool = False) -> Schema:
    props = {**KEY, "featureId": READ_ID}
    if currency:
        props["currencyId"] = STRING
    props["options"] = request(options)
    return request(props)


def _feature_member(extra: dict[str, Schema], required: tuple[str, ...]) -> Schema:
    return obj({"feature": ref("EntitlementFeature"), **extra}, required)


def _decision(members: dict[str, Schema], required: tuple[str, ...]) -> Schema:
    props = {"hasAccess": BOOLEAN, "isFallback": BOOLEAN,
             "accessDeniedReason": ref("AccessDeniedReason"), **members}
    return obj(props, ("hasAccess", "isFallback", *required))


def _one_member(schema: Schema, names: tuple[str, ...]) -> Schema:
    return {**schema, "oneOf": [{"required": [n]} for n in names]}


FEATURE_MEMBERS = {n: ref(f"{n.capitalize()}Entitlement") for n in ("boolean", "numeric", "metered", "enum")}
V2_MEMBERS = {**FEATURE_MEMBERS, "credit": ref("CreditEntitlement")}

SCHEMAS: dict[str, Schema] = {
    "AccessDeniedReason": _enum([r.value for r in AccessDeniedReason],
                                "Upstream GraphQL names; present only when hasAccess is false."),
    "FeatureType": _enum([t.value for t in FeatureType], "Upstream GraphQL names."),
    "MeterType": _enum([m.value for m in MeterType], "Upstream GraphQL names."),
    "ResetPeriod": _enum([p.value for p in ResetPeriod], "Upstream GraphQL names."),
    "UsageUpdateBehavior": _enum([b.value for b in UsageUpdateBehavior],
                                 "DELTA adds to the usage (the default), SET replaces it."),
    # ---- requests
    "KeyRequest": request(KEY),
    "BooleanCheckRequest": _check({"fallback": _fallback("hasAccess")}),
    "NumericCheckRequest": _check({"fallback": _fallback("hasAccess", "value", "isUnlimited")}),
    "MeteredCheckRequest": _check({"requestedUsage": NUMBER,
                                   "fallback": _fallback("hasAccess", "usageLimit", "isUnlimited")}),
    "EnumCheckRequest": _check({"requestedValues": STRINGS,
                                "fallback": _fallback("hasAccess", "enumValues")}),
    "CheckRequest": _check({"fallback": ref("EntitlementFallback"), "requestedUsage": NUMBER,
                            "requestedValues": STRINGS}),
    "CheckV2Request": _check({"fallback": ref("EntitlementFallback"), "requestedUsage": NUMBER,
                              "requestedValues": STRINGS}, currency=True),
    "EntitlementFallback": _fallback("hasAccess", "value", "isUnlimited", "usageLimit", "enumValues"),
    "UsageReport": request({
        "customerId": WRITE_ID, "resourceId": KEY["resourceId"], "featureId": WRITE_ID,
        "value": NUMBER, "updateBehavior": ref("UsageUpdateBehavior"), "dimensions": DIMENSIONS,
        "timestamp": {"type": "string", "format": "date-time"}}),
    "UsageBulkRequest": request({"usages": {"type": "array", "items": ref("UsageReport")}}),
    "Event": request({
        "eventName": WRITE_ID, "customerId": WRITE_ID, "idempotencyKey": WRITE_ID,
        "resourceId": KEY["resourceId"], "dimensions": DIMENSIONS,
        "timestamp": {"type": "string", "format": "date-time"}}),
    "EventsRequest": request({"events": {"type": "array", "items": ref("Event")}}),
    # ---- answers
    "EntitlementFeature": obj({
        "id": STRING, "featureType": ref("FeatureType"), "units": STRING, "unitsPlural": STRING,
        "meterType": ref("MeterType"), "isMetered": BOOLEAN}, ("id", "featureType", "isMetered")),
    "BooleanEntitlement": _feature_member({}, ()),
    "NumericEntitlement": _feature_member({"value": INT32, "isUnlimited": BOOLEAN}, ("isUnlimited",)),
    "MeteredEntitlement": _feature_member({
        "usageLimit": NUMBER, "isUnlimited": BOOLEAN, "currentUsage": NUMBER,
        "resetPeriod": ref("ResetPeriod"),
        "nextResetDate": {**TIME, "deprecated": True, "description": "Same as usagePeriodEnd."},
        "usagePeriodAnchor": TIME, "usagePeriodStart": TIME, "usagePeriodEnd": TIME,
        "hasSoftLimit": BOOLEAN}, ("isUnlimited", "currentUsage", "hasSoftLimit")),
    "EnumEntitlement": _feature_member({"enumValues": STRINGS}, ("enumValues",)),
    "EntitlementCurrency": obj({
        "currencyId": STRING, "displayName": STRING, "description": STRING,
        "unitSingular": STRING, "unitPlural": STRING, "additionalMetaData": {"type": "object"}},
        ("currencyId", "displayName")),
    "CreditEntitlement": obj({
        "currency": ref("EntitlementCurrency"), "usageLimit": NUMBER, "currentUsage": NUMBER,
        "remaining": NUMBER, "usagePeriodEnd": TIME, "hasSoftLimit": BOOLEAN},
        ("currency", "usageLimit", "currentUsage", "remaining", "hasSoftLimit")),
    "Entitlement": _one_member(obj(FEATURE_MEMBERS), tuple(FEATURE_MEMBERS)),
    "EntitlementV2": _one_member(_decision(V2_MEMBERS, ()), tuple(V2_MEMBERS)),
    "BooleanCheckResponse": _decision({"entitlement": ref("BooleanEntitlement")}, ("entitlement",)),
    "NumericCheckResponse": _decision({"entitlement": ref("NumericEntitlement")}, ("entitlement",)),
    "MeteredCheckResponse": _decision({"requestedUsage": NUMBER, "entitlement": ref("MeteredEntitlement")},
                                      ("requestedUsage", "entitlement")),
    "EnumCheckResponse": _decision({"requestedValues": STRINGS, "entitlement": ref("EnumEntitlement")},
                                   ("requestedValues", "entitlement")),
    "CheckResponse": _one_member(_decision(FEATURE_MEMBERS, ()), tuple(FEATURE_MEMBERS)),
    "CheckV2Response": obj({"entitlement": ref("EntitlementV2")}, ("entitlement",)),
    "EntitlementsResponse": obj({
        "entitlements": {"type": "array", "items": ref("Entitlement")},
        "accessDeniedReason": ref("AccessDeniedReason")}, ("entitlements",)),
    "EntitlementsStateV2Response": obj({
        "entitlements": {"type": "array", "items": ref("EntitlementV2")},
        "accessDeniedReason": ref("AccessDeniedReason")}, ("entitlements",)),
    "ReloadResponse": obj({"entitledEntityExists": BOOLEAN}, ("entitledEntityExists",)),
    "UsageResponse": obj({
        "measurementId": STRING, "customerId": STRING, "resourceId": STRING, "featureId": STRING,
        "currentUsage": NUMBER, "usagePeriodStart": TIME, "usagePeriodEnd": TIME},
        ("measurementId", "customerId", "featureId")),
    "UsageBulkResponse": obj({"usages": {"type": "array", "items": ref("UsageResponse")}}, ("usages",)),
    "Empty": obj({}),
    "Error": obj({"error": obj({
        "code": _enum([*(k.value for k in FailureKind), "INTERNAL"], "The gRPC status name."),
        "message": STRING,
        "field": {"type": "string", "description": "The invalid field (400 only)."},
        "recordedCount": {"type": "integer", "minimum": 0,
                          "description": "Leading items accepted upstream before a failure."},
    }, ("code", "message"))}, ("error",)),
}

_STATUS_TEXT = {
    FailureKind.INVALID_ARGUMENT: "Invalid request (the field is named).",
    FailureKind.NOT_FOUND: "Upstream reports a missing entity (e.g. the customer).",
    FailureKind.FAILED_PRECONDITION: "Upstream rejected the sidecar's server API key.",
    FailureKind.RESOURCE_EXHAUSTED: "Upstream rate limit, after retries.",
    FailureKind.UNAVAILABLE: "Upstream unavailable or timed out; or the sidecar is not serving.",
    FailureKind.UNKNOWN: "Any other upstream error.",
}
READ_FAILURES = (FailureKind.INVALID_ARGUMENT, FailureKind.UNAVAILABLE)
WRITE_FAILURES = tuple(FailureKind)


def _error(description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": ref("Error")}}}


ACME = {"customerId": "acme"}
#: One request body per operation (shown in the document; also schemathesis' examples).
EXAMPLES: dict[str, Schema] = {
    "GetBooleanEntitlement": {**ACME, "featureId": "sso"},
    "GetNumericEntitlement": {**ACME, "featureId": "seats",
                              "options": {"fallback": {"hasAccess": True, "value": 5}}},
    "GetMeteredEntitlement": {**ACME, "featureId": "api-calls", "options": {"requestedUsage": 5}},
    "GetEnumEntitlement": {**ACME, "featureId": "region", "options": {"requestedValues": ["eu"]}},
    "GetEntitlement": {**ACME, "featureId": "api-calls", "options": {"requestedUsage": 1}},
    "GetEntitlementV2": {**ACME, "currencyId": "usd-credits", "options": {"requestedUsage": 10}},
    "GetEntitlements": ACME,
    "GetEntitlementsStateV2": {**ACME, "resourceId": "workspace-1"},
    "ReloadEntitlements": ACME,
    "ReportUsage": {**ACME, "featureId": "api-calls", "value": 5, "updateBehavior": "DELTA",
                    "dimensions": {"region": "eu"}, "timestamp": "2025-07-10T15:29:59.000Z"},
    "ReportUsageBulk": {"usages": [{**ACME, "featureId": "api-calls", "value": 1},
                                   {**ACME, "featureId": "storage-gb", "value": 3, "updateBehavior": "SET"}]},
    "ReportEvents": {"events": [{**ACME, "eventName": "export", "idempotencyKey": "export-2025-07-10-1",
                                 "dimensions": {"rows": 120, "format": "csv"}}]},
}


def _operation(rpc: str, summary: str, body: str, answer: str, failures: tuple[FailureKind, ...]) -> Schema:
    responses: dict[str, Schema] = {
        "200": {"description": "OK", "content": {"application/json": {"schema": ref(answer)}}}}
    for kind in failures:
        responses[str(HTTP_STATUS[kind])] = _error(_STATUS_TEXT[kind])
    responses[str(TOO_LARGE_STATUS)] = _error("The body is larger than 16 MiB.")
    responses[str(INTERNAL_STATUS)] = _error("A bug in the sidecar (logged).")
    return {"post": {
        "operationId": rpc, "summary": summary,
        "description": f"The HTTP twin of gRPC `{rpc}`: same use case, same answer.",
        "parameters": [{"$ref": "#/components/parameters/RequestTimeout"}],
        "requestBody": {"required": False, "content": {"application/json": {
            "schema": ref(body), "example": EXAMPLES[rpc]}}},
        "responses": dict(sorted(responses.items())),
    }}


READ = READ_FAILURES
PATHS = {
    "/api/v1/entitlements/boolean": ("GetBooleanEntitlement", "Check a boolean feature",
                                     "BooleanCheckRequest", "BooleanCheckResponse", READ),
    "/api/v1/entitlements/numeric": ("GetNumericEntitlement", "Check a numeric configuration feature",
                                     "NumericCheckRequest", "NumericCheckResponse", READ),
    "/api/v1/entitlements/metered": ("GetMeteredEntitlement", "Check a metered feature",
                                     "MeteredCheckRequest", "MeteredCheckResponse", READ),
    "/api/v1/entitlements/enum": ("GetEnumEntitlement", "Check an enum feature",
                                  "EnumCheckRequest", "EnumCheckResponse", READ),
    "/api/v1/entitlements/check": ("GetEntitlement", "Check any feature",
                                   "CheckRequest", "CheckResponse", READ),
    "/api/v2/entitlements/check": ("GetEntitlementV2", "Check a feature or a credit wallet",
                                   "CheckV2Request", "CheckV2Response", READ),
    "/api/v1/entitlements": ("GetEntitlements", "All entitlements (V1: data only, no credits)",
                             "KeyRequest", "EntitlementsResponse", READ),
    "/api/v2/entitlements": ("GetEntitlementsStateV2", "All entitlements with decisions",
                             "KeyRequest", "EntitlementsStateV2Response", READ),
    "/api/v1/entitlements/reload": ("ReloadEntitlements", "Refetch (consistent) and cache",
                                    "KeyRequest", "ReloadResponse", READ),
    "/api/v1/usage": ("ReportUsage", "Report usage of one feature",
                      "UsageReport", "UsageResponse", WRITE_FAILURES),
    "/api/v1/usage/bulk": ("ReportUsageBulk", "Report usage of many features",
                           "UsageBulkRequest", "UsageBulkResponse", WRITE_FAILURES),
    "/api/v1/events": ("ReportEvents", "Report raw events", "EventsRequest", "Empty", WRITE_FAILURES),
}


def build_openapi() -> Schema:
    """The document, as a fresh dict."""
    paths = {path: _operation(*spec) for path, spec in PATHS.items()}
    paths["/openapi.json"] = {"get": {
        "operationId": "GetOpenApi", "summary": "This document",
        "responses": {"200": {"description": "OK", "content": {"application/json": {
            "schema": {"type": "object"}}}}}}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Stigg sidecar HTTP/JSON API",
            "version": "1.0.0",
            "description": (
                "Enabled by HTTP_API_ENABLED=true, on HTTP_PORT next to /livez, /readyz and "
                "/metrics. Every endpoint runs the same use case as its gRPC twin "
                "(operationId). Reads never fail because upstream failed: they answer with "
                "fallbacks. Unauthenticated, like the gRPC port: bind it to trusted networks."),
        },
        "paths": paths,
        "components": {
            "schemas": json.loads(json.dumps(SCHEMAS)),
            "parameters": {"RequestTimeout": {
                "name": "X-Request-Timeout-Ms", "in": "header", "required": False,
                "description": "The caller's deadline in ms (as a gRPC deadline); the answer "
                               "comes within it, less a 20 ms margin.",
                "schema": {"type": "integer", "minimum": 1, "maximum": 999_999_999_999}}},
        },
    }


if __name__ == "__main__":
    print(json.dumps(build_openapi(), indent=2))
