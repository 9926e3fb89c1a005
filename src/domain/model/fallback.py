"""Fallback values, their precedence and the kind of a fallback answer (decision-rules.md §9)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

from domain.model.kinds import FeatureKind

INT32_MIN, INT32_MAX = -2_147_483_648, 2_147_483_647


def to_int32(value: float | None) -> int | None:
    """Floor, then clamp to int32 (our choice, grpc-contract.md ``NumericEntitlement``).

    ``None`` and NaN give ``None`` (the field stays unset).
    """
    if value is None or math.isnan(value):
        return None
    if math.isinf(value):
        return INT32_MAX if value > 0 else INT32_MIN
    return max(INT32_MIN, min(INT32_MAX, math.floor(value)))


@dataclass(frozen=True, slots=True)
class FallbackValues:
    """One fallback entry: ``None`` on a field means "not given".

    Per-request fallbacks and ``ENTITLEMENTS_FALLBACK`` entries share this shape; they
    replace each other whole and are never merged (§9.1).
    """

    has_access: bool = False
    value: float | None = None
    is_unlimited: bool | None = None
    usage_limit: float | None = None
    enum_values: tuple[str, ...] | None = None

    def kind(self) -> FeatureKind:
        """Kind by content (§9.3 rule 3)."""
        if self.enum_values:
            return FeatureKind.ENUM
        if self.value is not None:
            return FeatureKind.NUMERIC
        if self.usage_limit is not None or self.is_unlimited is not None:
            return FeatureKind.METERED
        return FeatureKind.BOOLEAN


NO_FALLBACK = FallbackValues()


@dataclass(frozen=True, slots=True)
class FallbackTable:
    """The global ``ENTITLEMENTS_FALLBACK``, keyed by feature ref id, in configuration order."""

    entries: Mapping[str, FallbackValues]

    def resolve(self, feature_id: str, per_request: FallbackValues | None) -> FallbackValues:
        """Per-request fallback if given, else the global entry, else defaults (§9.1)."""
        if per_request is not None:
            return per_request
        return self.entries.get(feature_id, NO_FALLBACK)


EMPTY_FALLBACK_TABLE = FallbackTable({})


def fallback_kind(
    values: FallbackValues, *, requested_usage: float | None, requested_values: tuple[str, ...]
) -> FeatureKind:
    """Kind of a generic/V2/bulk fallback answer: options first, then content (§9.3)."""
    if requested_usage is not None:
        return FeatureKind.METERED
    if requested_values:
        return FeatureKind.ENUM
    return values.kind()
