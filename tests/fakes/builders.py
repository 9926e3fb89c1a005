"""Short builders for domain values, with the defaults of reference/vectors.md.

Omitted fields mean: granted, no limit, not unlimited, no soft limit, usage 0, no
period, no expiry. Times are ISO strings (UTC) or epoch ms.
"""
from __future__ import annotations

from domain.model.entitlement import (
    CreditEntitlement,
    CreditRate,
    Currency,
    EntitlementSet,
    Feature,
    FeatureEntitlement,
    Usage,
)
from domain.model.identifiers import CustomerKey
from domain.model.kinds import AccessDeniedReason, FeatureType, MeterType, ResetPeriod
from tests.fakes.clock import epoch_ms

ACME = CustomerKey("acme")


def _ms(value: int | str | None) -> int | None:
    return epoch_ms(value) if isinstance(value, str) else value


def usage(
    current: float = 0.0,
    start: int | str | None = None,
    end: int | str | None = None,
    updated_at: int | str = 0,
) -> Usage:
    return Usage(current, _ms(start), _ms(end), _ms(updated_at) or 0)


def boolean(feature_id: str = "sso", **fields) -> FeatureEntitlement:
    return _feature(feature_id, FeatureType.BOOLEAN, MeterType.NONE, **fields)


def numeric(
    feature_id: str = "seats", limit: float | None = None, *, meter_type=MeterType.NONE, **fields
) -> FeatureEntitlement:
    return _feature(feature_id, FeatureType.NUMBER, meter_type, usage_limit=limit, **fields)


def enum(feature_id: str = "region", values: tuple[str, ...] = (), **fields) -> FeatureEntitlement:
    return _feature(feature_id, FeatureType.ENUM, MeterType.NONE, enum_values=tuple(values), **fields)


def metered(
    feature_id: str = "api-calls",
    limit: float | None = None,
    current: float = 0.0,
    *,
    meter_type: MeterType = MeterType.INCREMENTAL,
    start: int | str | None = None,
    end: int | str | None = None,
    updated_at: int | str = 0,
    reset: ResetPeriod | None = None,
    anchor: int | str | None = None,
    **fields,
) -> FeatureEntitlement:
    return _feature(
        feature_id,
        FeatureType.NUMBER,
        meter_type,
        usage_limit=limit,
        usage=usage(current, start, end, updated_at),
        reset_period=reset,
        usage_period_anchor_ms=_ms(anchor),
        **fields,
    )


def _feature(
    feature_id: str,
    feature_type: FeatureType,
    meter_type: MeterType | None,
    *,
    denied: AccessDeniedReason | None = None,
    valid_until: int | str | None = None,
    credit_rate: tuple[float, str] | None = None,
    **fields,
) -> FeatureEntitlement:
    return FeatureEntitlement(
        feature=Feature(feature_id, feature_type, meter_type),
        denial_reason=denied,
        valid_until_ms=_ms(valid_until),
        credit_rate=CreditRate(*credit_rate) if credit_rate is not None else None,
        **fields,
    )


def credit(
    currency_id: str = "cred",
    limit: float = 0.0,
    current: float = 0.0,
    *,
    soft: bool = False,
    denied: AccessDeniedReason | None = None,
    valid_until: int | str | None = None,
    end: int | str | None = None,
    updated_at: int | str = 0,
    currency: Currency | None = None,
) -> CreditEntitlement:
    return CreditEntitlement(
        currency=currency if currency is not None else Currency(currency_id, display_name=currency_id),
        usage_limit=limit,
        has_soft_limit=soft,
        denial_reason=denied,
        valid_until_ms=_ms(valid_until),
        usage=usage(current, None, end, updated_at),
    )


def entitlement_set(
    *entitlements: FeatureEntitlement | CreditEntitlement,
    key: CustomerKey = ACME,
    reason: AccessDeniedReason | None = None,
    timestamp: int = 1,
) -> EntitlementSet:
    """A set for ``key``; features and credits are sorted out of ``entitlements`` in order."""
    return EntitlementSet(
        key=key,
        features=tuple(e for e in entitlements if isinstance(e, FeatureEntitlement)),
        credits=tuple(e for e in entitlements if isinstance(e, CreditEntitlement)),
        customer_reason=reason,
        timestamp_ms=timestamp,
    )
