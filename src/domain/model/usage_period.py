"""Usage-period rollover: the period arithmetic of decision-rules.md §4.

All arithmetic is in UTC (our choice: answers must not depend on the host's time zone).
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from domain.model.entitlement import FeatureEntitlement, Usage
from domain.model.kinds import FeatureKind, ResetPeriod

_FIXED_UNITS_MS = {
    ResetPeriod.HOUR: 3_600_000,
    ResetPeriod.DAY: 86_400_000,
    ResetPeriod.WEEK: 7 * 86_400_000,
}
_MONTHS_PER_UNIT = {ResetPeriod.MONTH: 1, ResetPeriod.YEAR: 12}


def _to_datetime(epoch_ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=epoch_ms)


def _to_ms(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def add_months(anchor_ms: int, months: int) -> int:
    """``anchor + months`` calendar months, clamped to the month's last day (31 Jan + 1 = 29 Feb)."""
    anchor = _to_datetime(anchor_ms)
    index = anchor.year * 12 + (anchor.month - 1) + months
    year, month = divmod(index, 12)
    day = min(anchor.day, calendar.monthrange(year, month + 1)[1])
    return _to_ms(anchor.replace(year=year, month=month + 1, day=day))


@dataclass(frozen=True, slots=True)
class Period:
    start_ms: int
    end_ms: int


def period_containing(anchor_ms: int, reset_period: ResetPeriod, now_ms: int) -> Period:
    """The period ``[anchor + N·unit, anchor + (N+1)·unit)`` that contains ``now``.

    ``N`` is the largest integer ≥ 0 with ``anchor + N·unit ≤ now`` (our choice on N,
    decision-rules.md §4). Months and years count from the anchor, never from the
    previous period.
    """
    if reset_period in _FIXED_UNITS_MS:
        unit = _FIXED_UNITS_MS[reset_period]
        n = max(0, (now_ms - anchor_ms) // unit)
        return Period(anchor_ms + n * unit, anchor_ms + (n + 1) * unit)
    step = _MONTHS_PER_UNIT[reset_period]
    anchor = _to_datetime(anchor_ms)
    now = _to_datetime(now_ms)
    months = (now.year - anchor.year) * 12 + (now.month - anchor.month)
    n = max(0, months // step + 1)
    # Step back until anchor + n·unit ≤ now; at most two steps from the estimate.
    while n > 0 and add_months(anchor_ms, n * step) > now_ms:
        n -= 1
    return Period(add_months(anchor_ms, n * step), add_months(anchor_ms, (n + 1) * step))


def effective_usage(entitlement: FeatureEntitlement, now_ms: int) -> Usage:
    """Usage as it stands at ``now``: rolled over when the cached period has ended.

    Applies only to metered features with ``usage_period_end < now``; then usage is 0
    and the period is recomputed when both anchor and reset period are known, else
    unset. The cached value is never rewritten (reference behaviour, §4).
    """
    usage = entitlement.usage
    if (
        entitlement.kind is not FeatureKind.METERED
        or usage.period_end_ms is None
        or usage.period_end_ms >= now_ms
    ):
        return usage
    anchor, reset = entitlement.usage_period_anchor_ms, entitlement.reset_period
    if anchor is None or reset is None:
        return Usage(0.0, None, None, usage.updated_at_ms)
    period = period_containing(anchor, reset, now_ms)
    return Usage(0.0, period.start_ms, period.end_ms, usage.updated_at_ms)
