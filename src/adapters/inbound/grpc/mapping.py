"""The one mapping between protobuf messages and domain values (grpc-contract.md).

Requests become domain queries; answers become responses. Optional fields are set only
when the domain has a value ("unset vs default", grpc-contract.md mapping notes).
"""
from __future__ import annotations

import math
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from domain.model.answers import CreditAnswer, FeatureAnswer, FeatureData, StateAnswer
from domain.model.decide import FeatureQuery
from domain.model.entitlement import Feature
from domain.model.errors import InvalidRequestError
from domain.model.fallback import FallbackValues
from domain.model.identifiers import CustomerKey
from domain.model.kinds import (
    AccessDeniedReason,
    FeatureKind,
    FeatureType,
    MeterType,
    ResetPeriod,
    UsageUpdateBehavior,
)
from domain.model.reports import DimensionValue, Event, UsageAck, UsageReport
from sidecarpb.v1 import sidecar_pb2 as pb

_REASONS = {r: pb.AccessDeniedReason.Value(f"ACCESS_DENIED_REASON_{r.name}") for r in AccessDeniedReason}
_FEATURE_TYPES = {t: pb.FeatureType.Value(f"FEATURE_TYPE_{t.name}") for t in FeatureType}
_METER_TYPES = {m: pb.MeterType.Value(f"METER_TYPE_{m.name}") for m in MeterType}
_RESET_PERIODS = {
    p: pb.EntitlementResetPeriod.Value(f"ENTITLEMENT_RESET_PERIOD_{p.name}") for p in ResetPeriod
}
_BEHAVIORS = {
    pb.USAGE_UPDATE_BEHAVIOR_DELTA: UsageUpdateBehavior.DELTA,
    pb.USAGE_UPDATE_BEHAVIOR_SET: UsageUpdateBehavior.SET,
}


# ---------------------------------------------------------------- requests


def customer_key(request: Any) -> CustomerKey:
    """(customer, resource) of any request with ``customer_id`` and optional ``resource_id``."""
    resource = request.resource_id if request.HasField("resource_id") else None
    return CustomerKey.of(request.customer_id, resource)


def _optional(message: Any, name: str) -> Any:
    return getattr(message, name) if message.HasField(name) else None


def _requested_usage(options: Any) -> float | None:
    return options.requested_usage if options.HasField("requested_usage") else None


def boolean_query(request: pb.GetBooleanEntitlementRequest) -> FeatureQuery:
    fallback = None
    if request.HasField("options") and request.options.HasField("fallback"):
        fallback = FallbackValues(has_access=request.options.fallback.has_access)
    return FeatureQuery(request.feature_id, fallback=fallback)


def numeric_query(request: pb.GetNumericEntitlementRequest) -> FeatureQuery:
    fallback = None
    if request.HasField("options") and request.options.HasField("fallback"):
        f = request.options.fallback
        fallback = FallbackValues(
            has_access=f.has_access,
            value=_optional(f, "value"),
            is_unlimited=_optional(f, "is_unlimited"),
        )
    return FeatureQuery(request.feature_id, fallback=fallback)


def metered_query(request: pb.GetMeteredEntitlementRequest) -> FeatureQuery:
    fallback, requested = None, None
    if request.HasField("options"):
        options = request.options
        requested = _requested_usage(options)
        if options.HasField("fallback"):
            f = options.fallback
            fallback = FallbackValues(
                has_access=f.has_access,
                usage_limit=_optional(f, "usage_limit"),
                is_unlimited=_optional(f, "is_unlimited"),
            )
    return FeatureQuery(request.feature_id, requested_usage=requested, fallback=fallback)


def enum_query(request: pb.GetEnumEntitlementRequest) -> FeatureQuery:
    fallback, wanted = None, ()
    if request.HasField("options"):
        options = request.options
        wanted = tuple(options.requested_values)
        if options.HasField("fallback"):
            f = options.fallback
            fallback = FallbackValues(has_access=f.has_access, enum_values=tuple(f.enum_values) or None)
    return FeatureQuery(request.feature_id, requested_values=wanted, fallback=fallback)


def generic_query(feature_id: str, request: Any) -> FeatureQuery:
    """Query of ``GetEntitlement`` / ``GetEntitlementV2`` from ``GetEntitlementOptions``."""
    if not request.HasField("options"):
        return FeatureQuery(feature_id)
    options = request.options
    fallback = None
    if options.HasField("fallback"):
        f = options.fallback
        fallback = FallbackValues(
            has_access=f.has_access,
            value=_optional(f, "value"),
            is_unlimited=_optional(f, "is_unlimited"),
            usage_limit=_optional(f, "usage_limit"),
            enum_values=tuple(f.enum_values) or None,
        )
    return FeatureQuery(
        feature_id,
        requested_usage=_requested_usage(options),
        requested_values=tuple(options.requested_values),
        fallback=fallback,
    )


def _dimensions(field: str, dimensions: Any) -> dict[str, DimensionValue]:
    result: dict[str, DimensionValue] = {}
    for name, value in dimensions.items():
        member = value.WhichOneof("value")
        if member is None:
            raise InvalidRequestError(
                f"{field}[{name!r}]", "must set one of string_value, number_value, boolean_value"
            )
        item = getattr(value, member)
        if member == "number_value" and not math.isfinite(item):
            raise InvalidRequestError(f"{field}[{name!r}].number_value", "must be a finite number")
        result[name] = item
    return result


#: The range a google.protobuf.Timestamp may hold (0001-01-01 to 9999-12-31), in seconds.
_TIMESTAMP_SECONDS = (-62_135_596_800, 253_402_300_799)


def _timestamp_ms(message: Any, prefix: str, name: str = "timestamp") -> int | None:
    if not message.HasField(name):
        return None
    stamp = getattr(message, name)
    low, high = _TIMESTAMP_SECONDS
    if not 0 <= stamp.nanos < 1_000_000_000:
        raise InvalidRequestError(f"{prefix}{name}.nanos", "must be 0 to 999,999,999")
    if not low <= stamp.seconds <= high:
        raise InvalidRequestError(f"{prefix}{name}", "must be between 0001-01-01 and 9999-12-31")
    return stamp.ToMilliseconds()


def usage_report(request: pb.ReportUsageRequest, prefix: str = "") -> UsageReport:
    """A usage item; its idempotency key is assigned by the use case.

    Raises ``InvalidRequestError`` for an unknown update behaviour or a bad dimension.
    """
    behavior = None
    if request.HasField("update_behavior") and request.update_behavior != 0:
        behavior = _BEHAVIORS.get(request.update_behavior)
        if behavior is None:
            raise InvalidRequestError(f"{prefix}update_behavior", "must be DELTA or SET")
    return UsageReport(
        key=customer_key(request),
        feature_id=request.feature_id,
        value=request.value,
        idempotency_key="",
        update_behavior=behavior,
        dimensions=_dimensions(f"{prefix}dimensions", request.dimensions),
        timestamp_ms=_timestamp_ms(request, prefix),
    )


def usage_reports(request: pb.ReportUsageBulkRequest) -> list[UsageReport]:
    return [usage_report(item, f"usages[{i}].") for i, item in enumerate(request.usages)]


def events(request: pb.ReportEventsRequest) -> list[Event]:
    return [
        Event(
            event_name=e.event_name,
            key=customer_key(e),
            idempotency_key=e.idempotency_key,
            dimensions=_dimensions(f"events[{i}].dimensions", e.dimensions),
            timestamp_ms=_timestamp_ms(e, f"events[{i}]."),
        )
        for i, e in enumerate(request.events)
    ]


# ---------------------------------------------------------------- answers


def _ts(epoch_ms: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromMilliseconds(epoch_ms)
    return stamp


def _feature(feature: Feature, kind: FeatureKind) -> pb.EntitlementFeature:
    message = pb.EntitlementFeature(
        id=feature.id,
        feature_type=_FEATURE_TYPES[feature.feature_type],
        meter_type=_METER_TYPES[feature.meter_type] if feature.meter_type else 0,
        is_metered=kind is FeatureKind.METERED,
    )
    if feature.units:
        message.units = feature.units
    if feature.units_plural:
        message.units_plural = feature.units_plural
    return message


def boolean_entitlement(data: FeatureData) -> pb.BooleanEntitlement:
    message = pb.BooleanEntitlement()
    if data.feature is not None:
        message.feature.CopyFrom(_feature(data.feature, data.kind))
    return message


def numeric_entitlement(data: FeatureData) -> pb.NumericEntitlement:
    message = pb.NumericEntitlement(is_unlimited=data.is_unlimited)
    if data.feature is not None:
        message.feature.CopyFrom(_feature(data.feature, data.kind))
    if data.value is not None:
        message.value = data.value
    return message


def metered_entitlement(data: FeatureData) -> pb.MeteredEntitlement:
    usage = data.usage
    message = pb.MeteredEntitlement(
        is_unlimited=data.is_unlimited,
        current_usage=usage.current_usage if usage is not None else 0.0,
        has_soft_limit=data.has_soft_limit,
    )
    if data.feature is not None:
        message.feature.CopyFrom(_feature(data.feature, data.kind))
    if data.usage_limit is not None:
        message.usage_limit = data.usage_limit
    if data.reset_period is not None:
        message.reset_period = _RESET_PERIODS[data.reset_period]
    if data.usage_period_anchor_ms is not None:
        message.usage_period_anchor.CopyFrom(_ts(data.usage_period_anchor_ms))
    if usage is not None and usage.period_start_ms is not None:
        message.usage_period_start.CopyFrom(_ts(usage.period_start_ms))
    if usage is not None and usage.period_end_ms is not None:
        end = _ts(usage.period_end_ms)
        message.usage_period_end.CopyFrom(end)
        message.next_reset_date.CopyFrom(end)
    return message


def enum_entitlement(data: FeatureData) -> pb.EnumEntitlement:
    message = pb.EnumEntitlement(enum_values=data.enum_values)
    if data.feature is not None:
        message.feature.CopyFrom(_feature(data.feature, data.kind))
    return message


_MEMBERS = {
    FeatureKind.BOOLEAN: ("boolean", boolean_entitlement),
    FeatureKind.NUMERIC: ("numeric", numeric_entitlement),
    FeatureKind.METERED: ("metered", metered_entitlement),
    FeatureKind.ENUM: ("enum", enum_entitlement),
}


def _decision_fields(answer: FeatureAnswer | CreditAnswer) -> dict[str, Any]:
    fields: dict[str, Any] = {"has_access": answer.has_access, "is_fallback": answer.is_fallback}
    if answer.reason is not None and not answer.has_access:
        fields["access_denied_reason"] = _REASONS[answer.reason]
    return fields


def boolean_response(answer: FeatureAnswer) -> pb.GetBooleanEntitlementResponse:
    return pb.GetBooleanEntitlementResponse(
        entitlement=boolean_entitlement(answer.data), **_decision_fields(answer)
    )


def numeric_response(answer: FeatureAnswer) -> pb.GetNumericEntitlementResponse:
    return pb.GetNumericEntitlementResponse(
        entitlement=numeric_entitlement(answer.data), **_decision_fields(answer)
    )


def metered_response(answer: FeatureAnswer) -> pb.GetMeteredEntitlementResponse:
    return pb.GetMeteredEntitlementResponse(
        entitlement=metered_entitlement(answer.data),
        requested_usage=answer.requested_usage,
        **_decision_fields(answer),
    )


def enum_response(answer: FeatureAnswer) -> pb.GetEnumEntitlementResponse:
    return pb.GetEnumEntitlementResponse(
        entitlement=enum_entitlement(answer.data),
        requested_values=answer.requested_values,
        **_decision_fields(answer),
    )


def generic_response(answer: FeatureAnswer) -> pb.GetEntitlementResponse:
    member, build = _MEMBERS[answer.data.kind]
    return pb.GetEntitlementResponse(**{member: build(answer.data)}, **_decision_fields(answer))


def credit_entitlement(answer: CreditAnswer) -> pb.CreditEntitlement:
    currency = answer.currency
    message = pb.CreditEntitlement(
        currency=pb.EntitlementCurrency(
            currency_id=currency.currency_id, display_name=currency.display_name
        ),
        usage_limit=answer.usage_limit,
        current_usage=answer.current_usage,
        remaining=answer.remaining,
        has_soft_limit=answer.has_soft_limit,
    )
    for name in ("description", "unit_singular", "unit_plural"):
        value = getattr(currency, name)
        if value is not None:
            setattr(message.currency, name, value)
    if currency.additional_meta_data is not None:
        message.currency.additional_meta_data.update(currency.additional_meta_data)
    if answer.usage_period_end_ms is not None:
        message.usage_period_end.CopyFrom(_ts(answer.usage_period_end_ms))
    return message


def entitlement_v2(answer: FeatureAnswer | CreditAnswer) -> pb.EntitlementV2:
    if isinstance(answer, CreditAnswer):
        return pb.EntitlementV2(credit=credit_entitlement(answer), **_decision_fields(answer))
    member, build = _MEMBERS[answer.data.kind]
    return pb.EntitlementV2(**{member: build(answer.data)}, **_decision_fields(answer))


def v2_response(answer: FeatureAnswer | CreditAnswer) -> pb.GetEntitlementV2Response:
    return pb.GetEntitlementV2Response(entitlement=entitlement_v2(answer))


def state_v2_response(answer: StateAnswer) -> pb.GetEntitlementsStateV2Response:
    response = pb.GetEntitlementsStateV2Response(
        entitlements=[entitlement_v2(item) for item in answer.items]
    )
    if answer.reason is not None:
        response.access_denied_reason = _REASONS[answer.reason]
    return response


def state_v1_response(answer: StateAnswer) -> pb.GetEntitlementsResponse:
    """V1 items carry data only, and credits are left out (decision-rules.md §8.5)."""
    items = []
    for item in answer.items:
        if isinstance(item, FeatureAnswer):
            member, build = _MEMBERS[item.data.kind]
            items.append(pb.Entitlement(**{member: build(item.data)}))
    response = pb.GetEntitlementsResponse(entitlements=items)
    if answer.reason is not None:
        response.access_denied_reason = _REASONS[answer.reason]
    return response


def usage_response(ack: UsageAck) -> pb.ReportUsageResponse:
    message = pb.ReportUsageResponse(
        measurement_id=ack.measurement_id,
        customer_id=ack.key.customer_id,
        feature_id=ack.feature_id,
    )
    if ack.key.resource_id is not None:
        message.resource_id = ack.key.resource_id
    if ack.current_usage is not None:
        message.current_usage = ack.current_usage
    if ack.usage_period_start_ms is not None:
        message.usage_period_start.CopyFrom(_ts(ack.usage_period_start_ms))
    if ack.usage_period_end_ms is not None:
        message.usage_period_end.CopyFrom(_ts(ack.usage_period_end_ms))
    return message


def usage_bulk_response(acks: list[UsageAck]) -> pb.ReportUsageBulkResponse:
    return pb.ReportUsageBulkResponse(usages=[usage_response(ack) for ack in acks])
