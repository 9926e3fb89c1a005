"""Tolerant reader: upstream JSON (GraphQL, Edge, WebSocket) -> domain values.

reference: upstream-api.md §3.4, decision-rules.md §1. Unknown fields are ignored, an
unknown ``__typename`` or an entitlement without a feature is skipped with a warning,
and a DateTime that does not parse counts as absent (logged). All times returned are
epoch milliseconds (UTC). Pure functions: the caller passes ``now_ms``.
"""
from __future__ import annotations

import functools
import logging
import math
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any, Mapping, Sequence, TypeVar

from domain.model.entitlement import (
    CreditEntitlement, CreditRate, Currency, EntitlementSet, FeatureEntitlement, Usage,
    new_feature, new_feature_entitlement, new_usage,
)
from domain.model.identifiers import CustomerKey
from domain.model.kinds import AccessDeniedReason, FeatureType, MeterType, ResetPeriod
from domain.model.reports import CreditAck, UsageAck
from ports.errors import UpstreamRejectedError

log = logging.getLogger("sidecar.upstream.payloads")

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)
E = TypeVar("E", bound=Enum)


def time_ms(value: Any, field: str) -> int | None:
    """A DateTime as epoch ms: an ISO-8601 string (naive means UTC) or an epoch-ms number.

    ``None`` for null, and for anything unparseable (logged at warning level).
    """
    if value is None:
        return None
    if isinstance(value, str):
        if (ms := _iso_ms(value)) is not None:
            return ms
    elif (number := _number(value)) is not None:
        return int(number)
    log.warning("unparseable upstream DateTime ignored", extra={"field": field, "value": repr(value)})
    return None


@functools.lru_cache(maxsize=4096)
def _iso_ms(text: str) -> int | None:
    """An ISO-8601 string as epoch ms (naive means UTC); ``None`` if it does not parse.

    Cached: a state repeats the same few period bounds and stamps in every entitlement
    and every customer (≈ 1 µs per parse saved, several per entitlement).
    """
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return (parsed - _EPOCH) // _MS


def iso_utc(ms: int) -> str:
    """Epoch ms as upstream's DateTime input: ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC)."""
    return (_EPOCH + ms * _MS).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _number(value: Any) -> float | None:
    """A finite JSON number as float; anything else (bool, NaN, text) -> ``None``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _lookup(table: Mapping[Any, E], value: Any, field: str) -> E | None:
    """The enum member named by ``value`` in ``table`` (value → member); ``None`` for
    null, and for an unknown or unhashable value (logged at warning level)."""
    if value is None:
        return None
    try:
        member = table.get(value)
    except TypeError:  # unhashable JSON (a list or an object)
        member = None
    if member is None:
        log.warning("unknown upstream enum value ignored", extra={"field": field, "value": repr(value)})
    return member


def _members(kind: type[E]) -> dict[Any, E]:
    """Value → member of an enum: a dict lookup instead of ``kind(value)`` (≈ 0.6 µs)."""
    return {member.value: member for member in kind}


_FEATURE_TYPES = _members(FeatureType)
_METER_TYPES = _members(MeterType)
_RESET_PERIODS = _members(ResetPeriod)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def denial_reason(entry: Mapping[str, Any]) -> AccessDeniedReason | None:
    """``isGranted=false`` -> the reason or UNKNOWN; ``true`` -> none (decision-rules.md §1.2).

    A missing ``isGranted`` (not expected) is denied exactly when a reason is given.
    """
    granted = entry.get("isGranted")
    if granted is True:
        return None
    reason = AccessDeniedReason.parse(_text(entry.get("accessDeniedReason")))
    if granted is None and reason is None:
        return None
    return reason or AccessDeniedReason.UNKNOWN


def read_feature_entitlement(entry: Mapping[str, Any]) -> FeatureEntitlement | None:
    """A ``FeatureEntitlement`` object, or ``None`` when it has no usable feature.

    Written for speed (a cold miss reads ~20 of these; 200 → 141 µs per set of 20,
    docs/performance.md "Cold miss"): one ``dict.get`` per field, enum tables looked
    up directly, and the value objects built with positional arguments in their
    dataclass field order (keywords cost ~1 µs more per entitlement);
    ``test_feature_entitlement_fields_map_to_the_domain`` pins every field. The
    ``Feature``, ``FeatureEntitlement`` and ``Usage`` objects come from the classes'
    positional constructors (``domain.model.construct``: 146 → 119 µs per set of 20,
    min of 15 alternating runs). Same null rules as the helpers above.
    """
    get = entry.get
    raw = get("feature")
    if not isinstance(raw, dict):
        raw = {}
    ref_id = raw.get("refId")
    feature_type = _lookup(_FEATURE_TYPES, raw.get("featureType"), "feature.featureType")
    if not ref_id or not isinstance(ref_id, str) or feature_type is None:
        log.warning("entitlement without a usable feature skipped", extra={"feature": repr(raw)})
        return None
    feature = new_feature(
        ref_id, feature_type, _lookup(_METER_TYPES, raw.get("meterType"), "feature.meterType"),
        _text(raw.get("featureUnits")), _text(raw.get("featureUnitsPlural")),
        _text(raw.get("displayName")),
    )
    credit_rate = None
    if (rate := get("creditRate")) is not None and isinstance(rate, dict):
        amount, currency_id = _number(rate.get("amount")), _text(rate.get("currencyId"))
        if amount is not None and currency_id:
            credit_rate = CreditRate(amount, currency_id)
    config = get("resetPeriodConfiguration")
    enum_values = get("enumValues")
    return new_feature_entitlement(
        feature,
        _number(get("usageLimit")),
        get("hasUnlimitedUsage") is True,
        get("hasSoftLimit") is True,
        denial_reason(entry),
        tuple(v for v in enum_values if isinstance(v, str)) if isinstance(enum_values, list) else (),
        time_ms(get("validUntil"), "validUntil"),
        credit_rate,
        _lookup(_RESET_PERIODS, get("resetPeriod"), "resetPeriod"),
        time_ms(get("usagePeriodAnchor"), "usagePeriodAnchor"),
        {k: v for k, v in config.items() if k != "__typename"} if isinstance(config, dict) else None,
        _usage(entry, get("usagePeriodStart")),
    )


def read_credit_entitlement(entry: Mapping[str, Any]) -> CreditEntitlement | None:
    """A ``CreditEntitlement`` object, or ``None`` when it has no currency id."""
    raw = _mapping(entry.get("currency"))
    currency_id = _text(raw.get("currencyId"))
    if not currency_id:
        log.warning("credit entitlement without a currency skipped", extra={"currency": repr(raw)})
        return None
    meta = raw.get("additionalMetaData")
    currency = Currency(
        currency_id=currency_id, display_name=_text(raw.get("displayName")) or "",
        description=_text(raw.get("description")), unit_singular=_text(raw.get("unitSingular")),
        unit_plural=_text(raw.get("unitPlural")),
        additional_meta_data=dict(meta) if isinstance(meta, dict) else None,
    )
    return CreditEntitlement(
        currency=currency,
        usage_limit=_number(entry.get("usageLimit")) or 0.0,
        has_soft_limit=entry.get("hasSoftLimit") is True,
        denial_reason=denial_reason(entry),
        valid_until_ms=time_ms(entry.get("validUntil"), "validUntil"),
        usage=_usage(entry, None),
    )


def _usage(entry: Mapping[str, Any], start: Any) -> Usage:
    """currentUsage null -> 0; usageUpdatedAt absent -> 0 (epoch ms)."""
    get = entry.get
    return new_usage(
        _number(get("currentUsage")) or 0.0,
        time_ms(start, "usagePeriodStart"),
        time_ms(get("usagePeriodEnd"), "usagePeriodEnd"),
        time_ms(get("usageUpdatedAt"), "usageUpdatedAt") or 0,
    )


def set_timestamp_ms(items: Sequence[Any], now_ms: int) -> int:
    """The first valid ``entitlementUpdatedAt`` in list order; 0 for an empty list; else now.

    reference: upstream-api.md §3.4 (4.55.0 ``getEntitlementsUpdatedAtTimestamp``). Every
    upstream entry counts, including those the reader skips.
    """
    if not items:
        return 0
    for item in items:
        stamp = time_ms(_mapping(item).get("entitlementUpdatedAt"), "entitlementUpdatedAt")
        if stamp is not None:
            return stamp
    return now_ms


def read_entitlement_set(
    key: CustomerKey, access_denied_reason: Any, entitlements: Any, now_ms: int
) -> EntitlementSet:
    """An ``EntitlementSet`` from a reason and an ``EntitlementUnion`` list.

    Shared by ``entitlementsState`` (GraphQL, Edge) and ``entitlementsUpdatedV2`` (WS).
    A null list reads as empty. Duplicates are kept as given (the first one wins on
    lookup) and logged.
    """
    items = _list(entitlements)
    features: list[FeatureEntitlement] = []
    credits: list[CreditEntitlement] = []
    for item in items:
        entry = _mapping(item)
        typename = entry.get("__typename")
        if typename == "FeatureEntitlement":
            feature = read_feature_entitlement(entry)
            if feature is not None:
                features.append(feature)
        elif typename == "CreditEntitlement":
            credit = read_credit_entitlement(entry)
            if credit is not None:
                credits.append(credit)
        else:
            log.warning("unknown entitlement type skipped", extra={"typename": repr(typename)})
    reason_text = _text(access_denied_reason)
    customer_reason = AccessDeniedReason.parse(reason_text)
    if customer_reason is AccessDeniedReason.UNKNOWN and reason_text != "Unknown":
        log.warning("unknown customer-level reason", extra={"reason": reason_text})
    result = EntitlementSet(
        key=key, features=tuple(features), credits=tuple(credits),
        customer_reason=customer_reason, timestamp_ms=set_timestamp_ms(items, now_ms),
    )
    if duplicates := result.duplicate_feature_ids():
        log.warning("duplicate feature entitlements; the first wins",
                    extra={"customer_id": key.customer_id, "feature_ids": duplicates})
    return result


def read_entitlements_state(key: CustomerKey, state: Mapping[str, Any], now_ms: int) -> EntitlementSet:
    """``data.entitlementsState`` -> ``EntitlementSet``; ``key`` is the requested key."""
    return read_entitlement_set(
        key, state.get("accessDeniedReason"), state.get("entitlementsV2"), now_ms
    )


def entitlements_state_from(data: Mapping[str, Any], key: CustomerKey, now_ms: int) -> EntitlementSet:
    """The set in a GraphQL/Edge ``data`` object; ``UpstreamRejectedError`` if it has none."""
    state = data.get("entitlementsState")
    if not isinstance(state, Mapping):
        raise UpstreamRejectedError("malformed response: no entitlementsState object")
    return read_entitlements_state(key, state, now_ms)


def read_usage_ack(measurement: Mapping[str, Any], sent: CustomerKey, feature_id: str) -> UsageAck:
    """A ``UsageMeasurementWithCurrentUsage`` -> ``UsageAck``.

    The key comes from the response's ``customerId``/``resourceId``; ``sent`` and
    ``feature_id`` (the request item's) fill in only when the response lacks them.
    """
    customer_id = _text(measurement.get("customerId"))
    key = CustomerKey.of(customer_id, _text(measurement.get("resourceId"))) if customer_id else sent
    credit = _mapping(measurement.get("credit"))
    currency_id = _text(credit.get("currencyId"))
    return UsageAck(
        measurement_id=_text(measurement.get("id")) or "",
        key=key,
        feature_id=_text(measurement.get("featureId")) or feature_id,
        current_usage=_number(measurement.get("currentUsage")),
        usage_period_start_ms=time_ms(measurement.get("usagePeriodStart"), "usagePeriodStart"),
        usage_period_end_ms=time_ms(measurement.get("usagePeriodEnd"), "usagePeriodEnd"),
        timestamp_ms=time_ms(measurement.get("timestamp"), "timestamp"),
        credit=CreditAck(
            currency_id=currency_id,
            current_usage=_number(credit.get("currentUsage")) or 0.0,
            usage_period_end_ms=time_ms(credit.get("usagePeriodEnd"), "credit.usagePeriodEnd"),
            timestamp_ms=time_ms(credit.get("timestamp"), "credit.timestamp"),
        ) if currency_id else None,
    )
