"""Answer values per RPC family (decision-rules.md §8), built from decisions or fallbacks.

These are transport-free: the gRPC mapping turns them into protobuf messages.
"""
from __future__ import annotations

from dataclasses import dataclass

from domain.model.entitlement import Currency, Feature, FeatureEntitlement, Usage
from domain.model.evaluation import Decision, normalize_requested_usage
from domain.model.fallback import FallbackValues, to_int32
from domain.model.kinds import AccessDeniedReason, FeatureKind, FeatureType, ResetPeriod
from domain.model.usage_period import effective_usage


@dataclass(frozen=True, slots=True)
class FeatureData:
    """The data member of a feature answer; which fields matter depends on ``kind``.

    ``feature`` is ``None`` on fallbacks and denials of absent entitlements. ``usage``
    is the usage after rollover (metered only). ``value`` is the numeric int32.
    """

    kind: FeatureKind
    feature: Feature | None = None
    usage_limit: float | None = None
    value: int | None = None
    is_unlimited: bool = False
    has_soft_limit: bool = False
    usage: Usage | None = None
    reset_period: ResetPeriod | None = None
    usage_period_anchor_ms: int | None = None
    enum_values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FeatureAnswer:
    """An answer about one feature.

    ``requested_usage`` echoes the caller's value or 0; ``requested_values`` echoes the
    request. ``reason`` is ``None`` whenever ``has_access`` (the reason invariant, §2).
    ``mismatched_kind`` is the feature's actual kind when a typed RPC hit a type
    mismatch (so the caller can log it).
    """

    has_access: bool
    is_fallback: bool
    reason: AccessDeniedReason | None
    data: FeatureData
    requested_usage: float = 0.0
    requested_values: tuple[str, ...] = ()
    mismatched_kind: FeatureKind | None = None


@dataclass(frozen=True, slots=True)
class CreditAnswer:
    """An answer about one credit wallet (decision-rules.md §5.1)."""

    has_access: bool
    is_fallback: bool
    reason: AccessDeniedReason | None
    currency: Currency
    usage_limit: float
    current_usage: float
    remaining: float
    usage_period_end_ms: int | None
    has_soft_limit: bool


@dataclass(frozen=True, slots=True)
class StateAnswer:
    """A bulk answer: items in upstream (or configuration) order and the customer reason."""

    items: tuple[FeatureAnswer | CreditAnswer, ...]
    reason: AccessDeniedReason | None
    is_fallback: bool = False


def feature_data(entitlement: FeatureEntitlement, now_ms: int) -> FeatureData:
    """Data of a present entitlement, after rollover (§8.2 "Data on a typed answer")."""
    kind = entitlement.kind
    return FeatureData(
        kind=kind,
        feature=entitlement.feature,
        usage_limit=entitlement.usage_limit,
        value=to_int32(entitlement.usage_limit) if kind is FeatureKind.NUMERIC else None,
        is_unlimited=entitlement.has_unlimited_usage,
        has_soft_limit=entitlement.has_soft_limit,
        usage=effective_usage(entitlement, now_ms) if kind is FeatureKind.METERED else None,
        reset_period=entitlement.reset_period,
        usage_period_anchor_ms=entitlement.usage_period_anchor_ms,
        enum_values=entitlement.enum_values,
    )


def evaluated_answer(
    decision: Decision,
    entitlement: FeatureEntitlement,
    now_ms: int,
    requested_usage: float | None,
    requested_values: tuple[str, ...],
) -> FeatureAnswer:
    return FeatureAnswer(
        has_access=decision.has_access,
        is_fallback=False,
        reason=decision.reason,
        data=feature_data(entitlement, now_ms),
        requested_usage=normalize_requested_usage(requested_usage),
        requested_values=requested_values,
    )


def absent_denial(
    kind: FeatureKind,
    reason: AccessDeniedReason,
    requested_usage: float | None,
    requested_values: tuple[str, ...],
) -> FeatureAnswer:
    """Typed denial of an absent entitlement: zero data for the kind (§8.2)."""
    usage = Usage() if kind is FeatureKind.METERED else None
    return FeatureAnswer(
        has_access=False,
        is_fallback=False,
        reason=reason,
        data=FeatureData(kind=kind, usage=usage),
        requested_usage=normalize_requested_usage(requested_usage),
        requested_values=requested_values,
    )


def feature_fallback(
    kind: FeatureKind,
    reason: AccessDeniedReason,
    values: FallbackValues,
    requested_usage: float | None,
    requested_values: tuple[str, ...],
    *,
    feature: Feature | None = None,
    mismatched_kind: FeatureKind | None = None,
) -> FeatureAnswer:
    """A fallback answer of ``kind`` (decision-rules.md §9.2).

    Fields of ``values`` that do not belong to ``kind`` are ignored. ``feature`` is set
    only for items of the global fallback list (§9.5).
    """
    has_access = values.has_access
    data = FeatureData(kind=kind, feature=feature)
    if kind is FeatureKind.NUMERIC:
        data = FeatureData(
            kind=kind,
            feature=feature,
            value=to_int32(values.value),
            is_unlimited=bool(values.is_unlimited),
        )
    elif kind is FeatureKind.METERED:
        data = FeatureData(
            kind=kind,
            feature=feature,
            usage_limit=values.usage_limit,
            is_unlimited=bool(values.is_unlimited),
            usage=Usage(),
        )
    elif kind is FeatureKind.ENUM:
        data = FeatureData(kind=kind, feature=feature, enum_values=values.enum_values or ())
    return FeatureAnswer(
        has_access=has_access,
        is_fallback=True,
        reason=None if has_access else reason,
        data=data,
        requested_usage=normalize_requested_usage(requested_usage),
        requested_values=requested_values,
        mismatched_kind=mismatched_kind,
    )


def credit_fallback(
    currency_id: str, reason: AccessDeniedReason, values: FallbackValues | None
) -> CreditAnswer:
    """A credit fallback (§9.2 "credit"): only the per-request values apply (§9.1)."""
    has_access = values.has_access if values is not None else False
    limit = values.usage_limit if values is not None and values.usage_limit is not None else 0.0
    return CreditAnswer(
        has_access=has_access,
        is_fallback=True,
        reason=None if has_access else reason,
        currency=Currency(currency_id=currency_id),
        usage_limit=limit,
        current_usage=0.0,
        remaining=limit,
        usage_period_end_ms=None,
        has_soft_limit=False,
    )


#: Feature type shown on global fallback list items, by kind (§9.5).
FALLBACK_LIST_FEATURE_TYPE = {
    FeatureKind.BOOLEAN: FeatureType.BOOLEAN,
    FeatureKind.NUMERIC: FeatureType.NUMBER,
    FeatureKind.METERED: FeatureType.NUMBER,
    FeatureKind.ENUM: FeatureType.ENUM,
}
