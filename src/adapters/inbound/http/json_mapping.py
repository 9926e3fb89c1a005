"""The one mapping between JSON bodies and domain values: the HTTP twin of grpc/mapping.py.

Field names are the protobuf names in camelCase, as in Stigg's APIs (``customerId``,
``hasAccess``). The rules of grpc/mapping.py hold here too: a field that would be unset
on the gRPC wire (an ``optional`` field with no value, an enum at zero) is left out;
other fields are always present. Enums are their upstream GraphQL names
(``RequestedUsageExceedingLimit``, ``BOOLEAN``, ``Incremental``, ``MONTH``); times are
ISO-8601 UTC strings with milliseconds. Unknown request fields are refused (400).
"""
from __future__ import annotations

from typing import Any

from adapters.inbound.http.json_fields import (
    boolean,
    dimensions,
    fields,
    int32,
    items,
    iso_utc,
    join,
    number,
    optional_fields,
    optional_text,
    strings,
    text,
    timestamp_ms,
)
from domain.model.answers import CreditAnswer, FeatureAnswer, FeatureData, StateAnswer
from domain.model.decide import FeatureQuery
from domain.model.entitlement import Feature
from domain.model.errors import InvalidRequestError
from domain.model.fallback import FallbackValues
from domain.model.identifiers import CustomerKey
from domain.model.kinds import FeatureKind, UsageUpdateBehavior
from domain.model.reports import Event, UsageAck, UsageReport

Json = dict[str, Any]

# ---------------------------------------------------------------- requests

KEY_FIELDS = ("customerId", "resourceId")
#: Options and fallback fields per typed check, as in the typed *Options messages.
TYPED_OPTIONS = {
    FeatureKind.BOOLEAN: (("fallback",), ("hasAccess",)),
    FeatureKind.NUMERIC: (("fallback",), ("hasAccess", "value", "isUnlimited")),
    FeatureKind.METERED: (("requestedUsage", "fallback"), ("hasAccess", "usageLimit", "isUnlimited")),
    FeatureKind.ENUM: (("requestedValues", "fallback"), ("hasAccess", "enumValues")),
}
#: ``GetEntitlementOptions`` of the generic and V2 checks.
GENERIC_OPTIONS = (
    ("fallback", "requestedUsage", "requestedValues"),
    ("hasAccess", "value", "isUnlimited", "usageLimit", "enumValues"),
)
USAGE_FIELDS = (*KEY_FIELDS, "featureId", "value", "updateBehavior", "dimensions", "timestamp")
EVENT_FIELDS = (*KEY_FIELDS, "eventName", "idempotencyKey", "dimensions", "timestamp")
_BEHAVIORS = {b.value: b for b in UsageUpdateBehavior}


def customer_key(body: Json, path: str = "") -> CustomerKey:
    """(customer, resource); an empty ``resourceId`` is none, as on gRPC."""
    return CustomerKey.of(text(body, "customerId", path), optional_text(body, "resourceId", path))


def key_request(body: Json) -> CustomerKey:
    """Bulk reads and reload: ``{"customerId", "resourceId"}``."""
    return customer_key(fields(body, "", KEY_FIELDS))


def _fallback(options: Json, allowed: tuple[str, ...]) -> FallbackValues | None:
    f = optional_fields(options, "fallback", "options", allowed)
    if f is None:
        return None
    path = "options.fallback"
    return FallbackValues(
        has_access=bool(boolean(f, "hasAccess", path)),
        value=int32(f, "value", path),
        is_unlimited=boolean(f, "isUnlimited", path),
        usage_limit=number(f, "usageLimit", path),
        enum_values=strings(f, "enumValues", path) or None,
    )


def _query(feature_id: str, body: Json, shape: tuple[tuple[str, ...], tuple[str, ...]]) -> FeatureQuery:
    option_fields, fallback_fields = shape
    options = optional_fields(body, "options", "", option_fields)
    if options is None:
        return FeatureQuery(feature_id)
    return FeatureQuery(
        feature_id,
        requested_usage=number(options, "requestedUsage", "options"),
        requested_values=strings(options, "requestedValues", "options"),
        fallback=_fallback(options, fallback_fields),
    )


def typed_request(kind: FeatureKind, body: Json) -> tuple[CustomerKey, FeatureQuery]:
    fields(body, "", (*KEY_FIELDS, "featureId", "options"))
    return customer_key(body), _query(text(body, "featureId"), body, TYPED_OPTIONS[kind])


def generic_request(body: Json) -> tuple[CustomerKey, FeatureQuery]:
    fields(body, "", (*KEY_FIELDS, "featureId", "options"))
    return customer_key(body), _query(text(body, "featureId"), body, GENERIC_OPTIONS)


def v2_request(body: Json) -> tuple[CustomerKey, FeatureQuery, str]:
    """Key, feature query and currency id; exactly one id should be given (the use case
    answers a fallback otherwise)."""
    fields(body, "", (*KEY_FIELDS, "featureId", "currencyId", "options"))
    query = _query(text(body, "featureId"), body, GENERIC_OPTIONS)
    return customer_key(body), query, text(body, "currencyId")


def usage_report(body: Any, path: str = "") -> UsageReport:
    """A usage item; its idempotency key is assigned by the use case."""
    item = fields(body, path, USAGE_FIELDS)
    behavior_name = optional_text(item, "updateBehavior", path)
    behavior = None
    if behavior_name is not None:
        behavior = _BEHAVIORS.get(behavior_name)
        if behavior is None:
            raise InvalidRequestError(join(path, "updateBehavior"), "must be DELTA or SET")
    value = number(item, "value", path)
    return UsageReport(
        key=customer_key(item, path),
        feature_id=text(item, "featureId", path),
        value=0.0 if value is None else value,
        idempotency_key="",
        update_behavior=behavior,
        dimensions=dimensions(item, "dimensions", path),
        timestamp_ms=timestamp_ms(item, "timestamp", path),
    )


def usage_reports(body: Json) -> list[UsageReport]:
    fields(body, "", ("usages",))
    return [usage_report(item, f"usages[{i}]") for i, item in enumerate(items(body, "usages"))]


def events(body: Json) -> list[Event]:
    fields(body, "", ("events",))
    result = []
    for index, raw in enumerate(items(body, "events")):
        path = f"events[{index}]"
        e = fields(raw, path, EVENT_FIELDS)
        result.append(Event(
            event_name=text(e, "eventName", path),
            key=customer_key(e, path),
            idempotency_key=text(e, "idempotencyKey", path),
            dimensions=dimensions(e, "dimensions", path),
            timestamp_ms=timestamp_ms(e, "timestamp", path),
        ))
    return result


# ---------------------------------------------------------------- answers


def _feature(feature: Feature, kind: FeatureKind) -> Json:
    body: Json = {"id": feature.id, "featureType": feature.feature_type.value}
    if feature.units:
        body["units"] = feature.units
    if feature.units_plural:
        body["unitsPlural"] = feature.units_plural
    if feature.meter_type:
        body["meterType"] = feature.meter_type.value
    body["isMetered"] = kind is FeatureKind.METERED
    return body


def _with_feature(data: FeatureData, body: Json) -> Json:
    if data.feature is not None:
        return {"feature": _feature(data.feature, data.kind), **body}
    return body


def boolean_entitlement(data: FeatureData) -> Json:
    return _with_feature(data, {})


def numeric_entitlement(data: FeatureData) -> Json:
    body: Json = {}
    if data.value is not None:
        body["value"] = data.value
    body["isUnlimited"] = data.is_unlimited
    return _with_feature(data, body)


def metered_entitlement(data: FeatureData) -> Json:
    usage = data.usage
    body: Json = {}
    if data.usage_limit is not None:
        body["usageLimit"] = data.usage_limit
    body["isUnlimited"] = data.is_unlimited
    body["currentUsage"] = usage.current_usage if usage is not None else 0.0
    if data.reset_period is not None:
        body["resetPeriod"] = data.reset_period.value
    if usage is not None and usage.period_end_ms is not None:
        body["nextResetDate"] = iso_utc(usage.period_end_ms)
    if data.usage_period_anchor_ms is not None:
        body["usagePeriodAnchor"] = iso_utc(data.usage_period_anchor_ms)
    if usage is not None and usage.period_start_ms is not None:
        body["usagePeriodStart"] = iso_utc(usage.period_start_ms)
    if usage is not None and usage.period_end_ms is not None:
        body["usagePeriodEnd"] = iso_utc(usage.period_end_ms)
    body["hasSoftLimit"] = data.has_soft_limit
    return _with_feature(data, body)


def enum_entitlement(data: FeatureData) -> Json:
    return _with_feature(data, {"enumValues": list(data.enum_values)})


_MEMBERS = {
    FeatureKind.BOOLEAN: ("boolean", boolean_entitlement),
    FeatureKind.NUMERIC: ("numeric", numeric_entitlement),
    FeatureKind.METERED: ("metered", metered_entitlement),
    FeatureKind.ENUM: ("enum", enum_entitlement),
}


def _decision(answer: FeatureAnswer | CreditAnswer) -> Json:
    body: Json = {"hasAccess": answer.has_access, "isFallback": answer.is_fallback}
    if answer.reason is not None and not answer.has_access:
        body["accessDeniedReason"] = answer.reason.value
    return body


def _member(data: FeatureData) -> Json:
    name, build = _MEMBERS[data.kind]
    return {name: build(data)}


def boolean_response(answer: FeatureAnswer) -> Json:
    return {**_decision(answer), "entitlement": boolean_entitlement(answer.data)}


def numeric_response(answer: FeatureAnswer) -> Json:
    return {**_decision(answer), "entitlement": numeric_entitlement(answer.data)}


def metered_response(answer: FeatureAnswer) -> Json:
    return {**_decision(answer), "requestedUsage": answer.requested_usage,
            "entitlement": metered_entitlement(answer.data)}


def enum_response(answer: FeatureAnswer) -> Json:
    return {**_decision(answer), "requestedValues": list(answer.requested_values),
            "entitlement": enum_entitlement(answer.data)}


TYPED_RESPONSES = {
    FeatureKind.BOOLEAN: boolean_response,
    FeatureKind.NUMERIC: numeric_response,
    FeatureKind.METERED: metered_response,
    FeatureKind.ENUM: enum_response,
}


def generic_response(answer: FeatureAnswer) -> Json:
    return {**_decision(answer), **_member(answer.data)}


def credit_entitlement(answer: CreditAnswer) -> Json:
    c = answer.currency
    currency: Json = {"currencyId": c.currency_id, "displayName": c.display_name}
    for key, value in (("description", c.description), ("unitSingular", c.unit_singular),
                       ("unitPlural", c.unit_plural), ("additionalMetaData", c.additional_meta_data)):
        if value is not None:
            currency[key] = value
    body: Json = {
        "currency": currency,
        "usageLimit": answer.usage_limit,
        "currentUsage": answer.current_usage,
        "remaining": answer.remaining,
    }
    if answer.usage_period_end_ms is not None:
        body["usagePeriodEnd"] = iso_utc(answer.usage_period_end_ms)
    body["hasSoftLimit"] = answer.has_soft_limit
    return body


def entitlement_v2(answer: FeatureAnswer | CreditAnswer) -> Json:
    if isinstance(answer, CreditAnswer):
        return {**_decision(answer), "credit": credit_entitlement(answer)}
    return {**_decision(answer), **_member(answer.data)}


def v2_response(answer: FeatureAnswer | CreditAnswer) -> Json:
    return {"entitlement": entitlement_v2(answer)}


def _with_reason(answer: StateAnswer, body: Json) -> Json:
    if answer.reason is not None:
        body["accessDeniedReason"] = answer.reason.value
    return body


def state_v2_response(answer: StateAnswer) -> Json:
    return _with_reason(answer, {"entitlements": [entitlement_v2(i) for i in answer.items]})


def state_v1_response(answer: StateAnswer) -> Json:
    """V1 items carry data only, and credits are left out (decision-rules.md §8.5)."""
    items_ = [_member(i.data) for i in answer.items if isinstance(i, FeatureAnswer)]
    return _with_reason(answer, {"entitlements": items_})


def reload_response(exists: bool) -> Json:
    return {"entitledEntityExists": exists}


def usage_response(ack: UsageAck) -> Json:
    body: Json = {"measurementId": ack.measurement_id, "customerId": ack.key.customer_id}
    if ack.key.resource_id is not None:
        body["resourceId"] = ack.key.resource_id
    body["featureId"] = ack.feature_id
    if ack.current_usage is not None:
        body["currentUsage"] = ack.current_usage
    if ack.usage_period_start_ms is not None:
        body["usagePeriodStart"] = iso_utc(ack.usage_period_start_ms)
    if ack.usage_period_end_ms is not None:
        body["usagePeriodEnd"] = iso_utc(ack.usage_period_end_ms)
    return body


def usage_bulk_response(acks: list[UsageAck]) -> Json:
    return {"usages": [usage_response(ack) for ack in acks]}
