"""Values of the write path: usage reports, their acknowledgements, raw events."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from domain.model.identifiers import CustomerKey
from domain.model.kinds import UsageUpdateBehavior

#: A dimension value is exactly one of string, number or boolean (grpc-contract.md).
DimensionValue = str | float | bool


@dataclass(frozen=True, slots=True)
class UsageReport:
    """One usage item as sent upstream.

    ``update_behavior`` ``None`` leaves the upstream default (DELTA). ``timestamp_ms``
    is epoch ms or ``None``. ``idempotency_key`` is fixed before the first attempt and
    reused on every retry (our choice, upstream-api.md §5.1).
    """

    key: CustomerKey
    feature_id: str
    value: float
    idempotency_key: str
    update_behavior: UsageUpdateBehavior | None = None
    dimensions: dict[str, DimensionValue] = field(default_factory=dict)
    timestamp_ms: int | None = None


class UsageTarget(Enum):
    FEATURE = "FEATURE"
    CREDIT = "CREDIT"


@dataclass(frozen=True, slots=True)
class CreditAck:
    """The wallet state returned with a usage measurement (upstream ``credit``)."""

    currency_id: str
    current_usage: float
    usage_period_end_ms: int | None
    timestamp_ms: int | None


@dataclass(frozen=True, slots=True)
class UsageAck:
    """Upstream's answer to one usage item (``UsageMeasurementWithCurrentUsage``)."""

    measurement_id: str
    key: CustomerKey
    feature_id: str
    current_usage: float | None = None
    usage_period_start_ms: int | None = None
    usage_period_end_ms: int | None = None
    timestamp_ms: int | None = None
    credit: CreditAck | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """One raw event; upstream deduplicates on the caller's ``idempotency_key``."""

    event_name: str
    key: CustomerKey
    idempotency_key: str
    dimensions: dict[str, DimensionValue] = field(default_factory=dict)
    timestamp_ms: int | None = None
