"""Entitlement values: what a customer has been granted, and its current usage.

All times are epoch milliseconds (UTC) or ``None`` (reference: caching-and-redis.md §1).
Values are immutable; a usage update builds a new set with ``with_usage``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from domain.model.construct import positional
from domain.model.identifiers import CustomerKey
from domain.model.kinds import (
    AccessDeniedReason,
    FeatureKind,
    FeatureType,
    MeterType,
    ResetPeriod,
    classify,
)


@dataclass(frozen=True, slots=True)
class Usage:
    """Current usage of a metered feature or a credit wallet within its usage period."""

    current_usage: float = 0.0
    period_start_ms: int | None = None
    period_end_ms: int | None = None
    #: When upstream measured it; guards writes by the ordering rule.
    updated_at_ms: int = 0


@dataclass(frozen=True, slots=True)
class Feature:
    """Feature data as carried on answers; ``id`` is the upstream ref id."""

    id: str
    feature_type: FeatureType
    meter_type: MeterType | None = None
    units: str | None = None
    units_plural: str | None = None
    display_name: str | None = None

    @property
    def kind(self) -> FeatureKind:
        return classify(self.feature_type, self.meter_type)


@dataclass(frozen=True, slots=True)
class CreditRate:
    amount: float
    currency_id: str


@dataclass(frozen=True, slots=True)
class FeatureEntitlement:
    """A customer's grant of one feature (decision-rules.md §1.2).

    ``denial_reason`` is set only when upstream said ``isGranted=false``.
    ``usage_limit`` ``None`` means no limit was sent (evaluated as 0 unless unlimited).
    """

    feature: Feature
    usage_limit: float | None = None
    has_unlimited_usage: bool = False
    has_soft_limit: bool = False
    denial_reason: AccessDeniedReason | None = None
    enum_values: tuple[str, ...] = ()
    valid_until_ms: int | None = None
    credit_rate: CreditRate | None = None
    reset_period: ResetPeriod | None = None
    usage_period_anchor_ms: int | None = None
    #: Kept verbatim for writers; not used locally (decision-rules.md §4).
    reset_period_configuration: dict[str, Any] | None = None
    usage: Usage = field(default_factory=Usage)

    @property
    def kind(self) -> FeatureKind:
        return self.feature.kind


@dataclass(frozen=True, slots=True)
class Currency:
    currency_id: str
    display_name: str = ""
    description: str | None = None
    unit_singular: str | None = None
    unit_plural: str | None = None
    #: A JSON object, or ``None`` for anything else (grpc-contract.md ``EntitlementCurrency``).
    additional_meta_data: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class CreditEntitlement:
    """A credit wallet (decision-rules.md §1.3); ``usage_limit`` is the granted amount."""

    currency: Currency
    usage_limit: float = 0.0
    has_soft_limit: bool = False
    denial_reason: AccessDeniedReason | None = None
    valid_until_ms: int | None = None
    usage: Usage = field(default_factory=Usage)


def is_expired(valid_until_ms: int | None, now_ms: int) -> bool:
    """An entitlement whose ``valid_until`` is ≤ now is expired (decision-rules.md §6)."""
    return valid_until_ms is not None and valid_until_ms <= now_ms


@dataclass(frozen=True, slots=True, weakref_slot=True)
class EntitlementSet:
    """Everything known about one (customer, resource) (decision-rules.md §1.1).

    ``features`` and ``credits`` keep upstream order. ``timestamp_ms`` is the set
    timestamp used by the ordering rule (upstream-api.md §3.4).
    """

    key: CustomerKey
    features: tuple[FeatureEntitlement, ...] = ()
    credits: tuple[CreditEntitlement, ...] = ()
    customer_reason: AccessDeniedReason | None = None
    timestamp_ms: int = 0
    _features_by_id: dict[str, FeatureEntitlement] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )
    _credits_by_id: dict[str, CreditEntitlement] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        # The first entitlement for a feature wins (our choice, decision-rules.md §1.2).
        for entitlement in self.features:
            self._features_by_id.setdefault(entitlement.feature.id, entitlement)
        for credit in self.credits:
            self._credits_by_id.setdefault(credit.currency.currency_id, credit)

    def feature(self, feature_id: str) -> FeatureEntitlement | None:
        return self._features_by_id.get(feature_id)

    def credit(self, currency_id: str) -> CreditEntitlement | None:
        return self._credits_by_id.get(currency_id)

    def duplicate_feature_ids(self) -> list[str]:
        """Feature ids that appear more than once (callers log them)."""
        return [e.feature.id for e in self.features if self._features_by_id[e.feature.id] is not e]

    def any_expired(self, now_ms: int) -> bool:
        """True if any entitlement in the set has expired (bulk reads, §6)."""
        return any(is_expired(e.valid_until_ms, now_ms) for e in self.features) or any(
            is_expired(c.valid_until_ms, now_ms) for c in self.credits
        )

    def with_feature_usage(self, feature_id: str, usage: Usage) -> EntitlementSet | None:
        """A copy with that feature's usage replaced, or ``None`` if the feature is absent."""
        if feature_id not in self._features_by_id:
            return None
        features = tuple(
            replace(e, usage=usage) if e.feature.id == feature_id else e for e in self.features
        )
        return replace(self, features=features)

    def with_credit_usage(self, currency_id: str, usage: Usage) -> EntitlementSet | None:
        """A copy with that wallet's usage replaced, or ``None`` if the wallet is absent."""
        if currency_id not in self._credits_by_id:
            return None
        credits = tuple(
            replace(c, usage=usage) if c.currency.currency_id == currency_id else c
            for c in self.credits
        )
        return replace(self, credits=credits)


#: Positional constructors for readers that build many sets (the upstream payload reader):
#: the same objects as calling the class, about twice as fast (``construct.positional``).
new_usage = positional(Usage)
new_feature = positional(Feature)
new_feature_entitlement = positional(FeatureEntitlement)
