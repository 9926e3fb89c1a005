"""Answers per RPC family from a loaded set, or ``None`` when loading failed (§8, §9).

Pure functions of values and ``now_ms`` (epoch ms, UTC).
"""
from __future__ import annotations

from dataclasses import dataclass

from domain.model.answers import (
    FALLBACK_LIST_FEATURE_TYPE,
    CreditAnswer,
    FeatureAnswer,
    StateAnswer,
    absent_denial,
    credit_fallback,
    evaluated_answer,
    feature_fallback,
)
from domain.model.entitlement import EntitlementSet, Feature
from domain.model.evaluation import (
    credit_remaining,
    evaluate_credit,
    evaluate_feature,
    missing_reason,
)
from domain.model.fallback import FallbackTable, FallbackValues, fallback_kind
from domain.model.kinds import AccessDeniedReason, FeatureKind


@dataclass(frozen=True, slots=True)
class FeatureQuery:
    """One feature check. ``requested_usage`` ``None`` means not requested;
    ``fallback`` ``None`` means no per-request fallback was given."""

    feature_id: str
    requested_usage: float | None = None
    requested_values: tuple[str, ...] = ()
    fallback: FallbackValues | None = None


def typed_answer(
    kind: FeatureKind,
    entitlements: EntitlementSet | None,
    query: FeatureQuery,
    table: FallbackTable,
    now_ms: int,
) -> FeatureAnswer:
    """Typed RPCs (decision-rules.md §8.2): the kind is fixed by the RPC."""
    values = table.resolve(query.feature_id, query.fallback)
    usage, wanted = query.requested_usage, query.requested_values
    if entitlements is None:
        return feature_fallback(kind, AccessDeniedReason.UNKNOWN, values, usage, wanted)
    entitlement = entitlements.feature(query.feature_id)
    if entitlement is None:
        return absent_denial(kind, missing_reason(entitlements), usage, wanted)
    if entitlement.kind is not kind:
        return feature_fallback(
            kind,
            AccessDeniedReason.FEATURE_TYPE_MISMATCH,
            values,
            usage,
            wanted,
            mismatched_kind=entitlement.kind,
        )
    decision = evaluate_feature(
        entitlement, entitlements, requested_usage=usage, requested_values=wanted, now_ms=now_ms
    )
    return evaluated_answer(decision, entitlement, now_ms, usage, wanted)


def generic_answer(
    entitlements: EntitlementSet | None,
    query: FeatureQuery,
    table: FallbackTable,
    now_ms: int,
) -> FeatureAnswer:
    """Generic ``GetEntitlement`` and the feature side of V2 (§8.3, §8.4).

    The member follows the actual kind; a missing entitlement is a fallback carrying
    the real reason (our choice).
    """
    values = table.resolve(query.feature_id, query.fallback)
    usage, wanted = query.requested_usage, query.requested_values
    kind = fallback_kind(values, requested_usage=usage, requested_values=wanted)
    if entitlements is None:
        return feature_fallback(kind, AccessDeniedReason.UNKNOWN, values, usage, wanted)
    entitlement = entitlements.feature(query.feature_id)
    if entitlement is None:
        return feature_fallback(kind, missing_reason(entitlements), values, usage, wanted)
    decision = evaluate_feature(
        entitlement, entitlements, requested_usage=usage, requested_values=wanted, now_ms=now_ms
    )
    return evaluated_answer(decision, entitlement, now_ms, usage, wanted)


def invalid_feature_answer(
    query: FeatureQuery, table: FallbackTable, kind: FeatureKind | None = None
) -> FeatureAnswer:
    """Fallback for a read that cannot be looked up (empty ids, bad V2 parameters, §8.8).

    ``kind`` forces the member (V2 with neither id answers boolean, §8.4); otherwise it
    is chosen by §9.3.
    """
    if kind is None:
        return generic_answer(None, query, table, 0)
    values = table.resolve(query.feature_id, query.fallback)
    return feature_fallback(
        kind, AccessDeniedReason.UNKNOWN, values, query.requested_usage, query.requested_values
    )


def credit_answer(
    entitlements: EntitlementSet | None,
    currency_id: str,
    requested_usage: float | None,
    fallback: FallbackValues | None,
) -> CreditAnswer:
    """Credit side of ``GetEntitlementV2`` (decision-rules.md §5.1, §8.4)."""
    if entitlements is None:
        return credit_fallback(currency_id, AccessDeniedReason.UNKNOWN, fallback)
    credit = entitlements.credit(currency_id)
    if credit is None:
        return credit_fallback(currency_id, missing_reason(entitlements, credit=True), fallback)
    decision = evaluate_credit(credit, requested_usage)
    return CreditAnswer(
        has_access=decision.has_access,
        is_fallback=False,
        reason=decision.reason,
        currency=credit.currency,
        usage_limit=credit.usage_limit,
        current_usage=credit.usage.current_usage,
        remaining=credit_remaining(credit),
        usage_period_end_ms=credit.usage.period_end_ms,
        has_soft_limit=credit.has_soft_limit,
    )


def state_answer(entitlements: EntitlementSet, now_ms: int) -> StateAnswer:
    """Bulk reads of a loaded set: every entitlement evaluated with nothing requested (§8.5)."""
    items: list[FeatureAnswer | CreditAnswer] = []
    seen: set[str] = set()
    for entitlement in entitlements.features:
        if entitlement.feature.id in seen:
            continue
        seen.add(entitlement.feature.id)
        decision = evaluate_feature(
            entitlement, entitlements, requested_usage=None, requested_values=(), now_ms=now_ms
        )
        items.append(evaluated_answer(decision, entitlement, now_ms, None, ()))
    seen_currencies: set[str] = set()
    for credit in entitlements.credits:
        currency_id = credit.currency.currency_id
        if currency_id not in seen_currencies:  # the first wallet wins, as for features
            seen_currencies.add(currency_id)
            items.append(credit_answer(entitlements, currency_id, None, None))
    return StateAnswer(tuple(items), entitlements.customer_reason)


def fallback_list(table: FallbackTable) -> StateAnswer:
    """The global fallback list (§9.5): one item per configured feature, in order."""
    items: list[FeatureAnswer | CreditAnswer] = []
    for feature_id, values in table.entries.items():
        kind = values.kind()
        feature = Feature(id=feature_id, feature_type=FALLBACK_LIST_FEATURE_TYPE[kind])
        items.append(
            feature_fallback(
                kind, AccessDeniedReason.UNKNOWN, values, None, (), feature=feature
            )
        )
    return StateAnswer(tuple(items), None, is_fallback=True)
