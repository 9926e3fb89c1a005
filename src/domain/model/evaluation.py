"""The core decision for one entitlement (decision-rules.md §2, §3, §5).

A denial is an answer (a ``Decision``), never an exception.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from domain.model.entitlement import CreditEntitlement, EntitlementSet, FeatureEntitlement
from domain.model.kinds import AccessDeniedReason, FeatureKind
from domain.model.usage_period import effective_usage

#: Tolerance of limit comparisons, in units in the last place (our choice): 0.1 + 0.2
#: against a limit of 0.3 is 1 ULP over and must not deny, while one real unit over a
#: limit of 1e12 (about 8000 ULPs there) must. 16 ULPs absorbs a few float roundings.
LIMIT_TOLERANCE_ULPS = 16
#: Upper bound of that tolerance in absolute units, so huge limits (≥ 2^48, where 16 ULPs
#: exceed 1) never forgive a whole unit of usage.
LIMIT_TOLERANCE_MAX = 1e-6


@dataclass(frozen=True, slots=True)
class Decision:
    """``has_access`` and, only when denied, the reason (the reason invariant, §2)."""

    has_access: bool
    reason: AccessDeniedReason | None = None

    @classmethod
    def allow(cls) -> Decision:
        return _ALLOW

    @classmethod
    def deny(cls, reason: AccessDeniedReason) -> Decision:
        return cls(False, reason)


_ALLOW = Decision(True, None)


def within_limit(current: float, requested: float, limit: float) -> bool:
    """``current + requested <= limit``, tolerating float rounding of the sum.

    The tolerance is ``LIMIT_TOLERANCE_ULPS`` ULPs of the largest magnitude involved
    (at least of 1.0, at most ``LIMIT_TOLERANCE_MAX``), so exact limits reached through float sums such as 0.1 + 0.2
    do not deny, and no real unit of usage is ever forgiven.
    """
    scale = max(abs(current), abs(requested), abs(limit), 1.0)
    tolerance = min(LIMIT_TOLERANCE_ULPS * math.ulp(scale), LIMIT_TOLERANCE_MAX)
    return current + requested <= limit + tolerance


def normalize_requested_usage(requested: float | None) -> float:
    """Absent requested usage is 0; NaN counts as 0 (our choice, decision-rules.md §2)."""
    if requested is None or math.isnan(requested):
        return 0.0
    return requested


def missing_reason(entitlements: EntitlementSet, *, credit: bool = False) -> AccessDeniedReason:
    """Reason for an absent entitlement: the customer-level reason, else the default (§3)."""
    if entitlements.customer_reason is not None:
        return entitlements.customer_reason
    if credit:
        return AccessDeniedReason.ENTITLEMENT_NOT_FOUND
    return AccessDeniedReason.NO_FEATURE_ENTITLEMENT_IN_SUBSCRIPTION


def credit_remaining(credit: CreditEntitlement) -> float:
    """Balance of a wallet; not clamped, so overdrafts show as negative (our choice, §5.1)."""
    return credit.usage_limit - credit.usage.current_usage


def evaluate_credit(credit: CreditEntitlement, requested_usage: float | None) -> Decision:
    """Decision for a present credit wallet (decision-rules.md §5.1, rules 2-5)."""
    if credit.denial_reason is not None:
        return Decision.deny(credit.denial_reason)
    if credit.has_soft_limit:
        return Decision.allow()
    requested = normalize_requested_usage(requested_usage)
    if requested > 0:
        granted = within_limit(credit.usage.current_usage, requested, credit.usage_limit)
    else:
        granted = credit_remaining(credit) > 0
    return Decision.allow() if granted else Decision.deny(AccessDeniedReason.INSUFFICIENT_CREDITS)


def _effective_denial(
    entitlement: FeatureEntitlement, entitlements: EntitlementSet
) -> AccessDeniedReason | None:
    """Upstream's denial, adjusted by the wallet of a credit-backed feature (§5.2)."""
    reason = entitlement.denial_reason
    rate = entitlement.credit_rate
    wallet = entitlements.credit(rate.currency_id) if rate is not None else None
    if wallet is None:
        return reason
    exhausted = not wallet.has_soft_limit and credit_remaining(wallet) <= 0
    if reason is AccessDeniedReason.INSUFFICIENT_CREDITS and not exhausted:
        return None
    if reason is None and exhausted:
        return AccessDeniedReason.INSUFFICIENT_CREDITS
    return reason


def evaluate_feature(
    entitlement: FeatureEntitlement,
    entitlements: EntitlementSet,
    *,
    requested_usage: float | None,
    requested_values: tuple[str, ...],
    now_ms: int,
) -> Decision:
    """Decision for a present feature entitlement (decision-rules.md §2 rules 2-3).

    ``requested_usage`` ``None`` means none was requested. Usage is taken after
    rollover (§4).
    """
    denial = _effective_denial(entitlement, entitlements)
    if denial is not None:
        return Decision.deny(denial)
    kind = entitlement.kind
    if kind is FeatureKind.ENUM:
        allowed = set(entitlement.enum_values)
        if all(value in allowed for value in requested_values):
            return Decision.allow()
        return Decision.deny(AccessDeniedReason.REQUESTED_VALUES_MISMATCH)
    if kind is not FeatureKind.METERED:
        return Decision.allow()
    if entitlement.has_unlimited_usage or entitlement.has_soft_limit:
        return Decision.allow()
    limit = entitlement.usage_limit if entitlement.usage_limit is not None else 0.0
    current = effective_usage(entitlement, now_ms).current_usage
    if within_limit(current, normalize_requested_usage(requested_usage), limit):
        return Decision.allow()
    return Decision.deny(AccessDeniedReason.REQUESTED_USAGE_EXCEEDING_LIMIT)
