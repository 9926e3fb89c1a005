"""Usage-period rollover (decision-rules.md §4), all arithmetic in UTC."""
from __future__ import annotations

import pytest

from domain.model.entitlement import Usage
from domain.model.evaluation import evaluate_feature
from domain.model.kinds import MeterType, ResetPeriod
from domain.model.usage_period import Period, add_months, effective_usage, period_containing
from tests.fakes import epoch_ms as ms
from tests.fakes.builders import entitlement_set, metered, numeric

NOW = ms("2025-07-10T15:30:00Z")


def v6_messages(**overrides):
    fields = dict(
        limit=10, current=10, reset=ResetPeriod.WEEK, anchor="2025-05-14T08:00:00Z",
        start="2025-07-02T08:00:00Z", end="2025-07-09T08:00:00Z",
        updated_at="2025-07-08T10:00:00Z",
    )
    fields.update(overrides)
    return metered("messages", **fields)


# --- V6 -------------------------------------------------------------------------------

def test_v6_weekly_rollover_period_and_usage():
    rolled = effective_usage(v6_messages(), NOW)
    assert rolled.current_usage == 0
    assert rolled.period_start_ms == ms("2025-07-09T08:00:00Z")
    assert rolled.period_end_ms == ms("2025-07-16T08:00:00Z")


def test_v6_rollover_keeps_the_usage_timestamp():
    assert effective_usage(v6_messages(), NOW).updated_at_ms == ms("2025-07-08T10:00:00Z")


def test_v6_decision_uses_rolled_over_usage():
    entitlement = v6_messages()
    decision = evaluate_feature(entitlement, entitlement_set(entitlement), requested_usage=5,
                                requested_values=(), now_ms=NOW)
    assert decision.has_access and decision.reason is None


def test_v6_is_eight_whole_weeks_from_the_anchor():
    period = period_containing(ms("2025-05-14T08:00:00Z"), ResetPeriod.WEEK, NOW)
    week = 7 * 86_400_000
    assert period == Period(ms("2025-05-14T08:00:00Z") + 8 * week,
                            ms("2025-05-14T08:00:00Z") + 9 * week)


def test_rollover_never_rewrites_the_entitlement():
    entitlement = v6_messages()
    effective_usage(entitlement, NOW)
    assert entitlement.usage == Usage(10, ms("2025-07-02T08:00:00Z"), ms("2025-07-09T08:00:00Z"),
                                      ms("2025-07-08T10:00:00Z"))


# --- units ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "reset, anchor, now, start, end",
    [
        (ResetPeriod.HOUR, "2025-07-10T00:15:00Z", "2025-07-10T15:30:00Z",
         "2025-07-10T15:15:00Z", "2025-07-10T16:15:00Z"),
        (ResetPeriod.HOUR, "2025-07-10T15:30:00Z", "2025-07-10T15:30:00Z",
         "2025-07-10T15:30:00Z", "2025-07-10T16:30:00Z"),
        (ResetPeriod.DAY, "2025-01-01T06:00:00Z", "2025-07-10T15:30:00Z",
         "2025-07-10T06:00:00Z", "2025-07-11T06:00:00Z"),
        (ResetPeriod.DAY, "2025-01-01T18:00:00Z", "2025-07-10T15:30:00Z",
         "2025-07-09T18:00:00Z", "2025-07-10T18:00:00Z"),
        (ResetPeriod.WEEK, "2025-05-14T08:00:00Z", "2025-07-10T15:30:00Z",
         "2025-07-09T08:00:00Z", "2025-07-16T08:00:00Z"),
        (ResetPeriod.WEEK, "2025-05-14T08:00:00Z", "2025-07-09T08:00:00Z",
         "2025-07-09T08:00:00Z", "2025-07-16T08:00:00Z"),
        (ResetPeriod.WEEK, "2025-05-14T08:00:00Z", "2025-07-09T07:59:59.999Z",
         "2025-07-02T08:00:00Z", "2025-07-09T08:00:00Z"),
        (ResetPeriod.MONTH, "2025-01-01T00:00:00Z", "2025-07-10T15:30:00Z",
         "2025-07-01T00:00:00Z", "2025-08-01T00:00:00Z"),
        (ResetPeriod.MONTH, "2025-01-20T00:00:00Z", "2025-07-10T15:30:00Z",
         "2025-06-20T00:00:00Z", "2025-07-20T00:00:00Z"),
        (ResetPeriod.MONTH, "2025-01-10T15:30:00Z", "2025-07-10T15:30:00Z",
         "2025-07-10T15:30:00Z", "2025-08-10T15:30:00Z"),
        (ResetPeriod.MONTH, "2025-01-10T15:30:00.001Z", "2025-07-10T15:30:00Z",
         "2025-06-10T15:30:00.001Z", "2025-07-10T15:30:00.001Z"),
        (ResetPeriod.MONTH, "2024-11-15T00:00:00Z", "2025-01-20T00:00:00Z",
         "2025-01-15T00:00:00Z", "2025-02-15T00:00:00Z"),
        (ResetPeriod.YEAR, "2023-03-15T00:00:00Z", "2025-07-10T15:30:00Z",
         "2025-03-15T00:00:00Z", "2026-03-15T00:00:00Z"),
        (ResetPeriod.YEAR, "2020-09-01T00:00:00Z", "2025-07-10T15:30:00Z",
         "2024-09-01T00:00:00Z", "2025-09-01T00:00:00Z"),
        (ResetPeriod.YEAR, "2024-02-29T12:00:00Z", "2025-07-10T15:30:00Z",
         "2025-02-28T12:00:00Z", "2026-02-28T12:00:00Z"),
        (ResetPeriod.YEAR, "2024-02-29T12:00:00Z", "2028-03-01T00:00:00Z",
         "2028-02-29T12:00:00Z", "2029-02-28T12:00:00Z"),
    ],
    ids=["hour", "hour-now-at-anchor", "day", "day-before-anchor-time", "week-v6",
         "week-now-on-boundary", "week-1ms-before-boundary", "month", "month-day-after-now",
         "month-now-on-boundary", "month-1ms-after-now", "month-across-new-year", "year",
         "year-before-anniversary", "year-leap-anchor-clamped", "year-leap-anchor-in-leap-year"],
)
def test_period_containing(reset, anchor, now, start, end):
    assert period_containing(ms(anchor), reset, ms(now)) == Period(ms(start), ms(end))


# --- month arithmetic ---------------------------------------------------------------------

@pytest.mark.parametrize(
    "anchor, months, expected",
    [
        ("2024-01-31T10:00:00Z", 1, "2024-02-29T10:00:00Z"),
        ("2024-01-31T10:00:00Z", 2, "2024-03-31T10:00:00Z"),
        ("2024-01-31T10:00:00Z", 3, "2024-04-30T10:00:00Z"),
        ("2025-01-31T10:00:00Z", 1, "2025-02-28T10:00:00Z"),
        ("2024-01-31T10:00:00Z", 12, "2025-01-31T10:00:00Z"),
        ("2024-01-31T10:00:00Z", 13, "2025-02-28T10:00:00Z"),
        ("2024-12-15T00:00:00Z", 1, "2025-01-15T00:00:00Z"),
        ("2024-03-31T23:59:59.999Z", -1, "2024-02-29T23:59:59.999Z"),
        ("2024-05-05T00:00:00Z", 0, "2024-05-05T00:00:00Z"),
    ],
    ids=["31jan+1-leap", "31jan+2", "31jan+3", "31jan+1-common", "plus-12", "plus-13",
         "across-year", "minus-1-keeps-ms", "plus-0"],
)
def test_add_months_counts_from_the_anchor_and_clamps(anchor, months, expected):
    assert add_months(ms(anchor), months) == ms(expected)


@pytest.mark.parametrize(
    "now, start, end",
    [
        ("2024-02-10T00:00:00Z", "2024-01-31T12:00:00Z", "2024-02-29T12:00:00Z"),
        ("2024-03-05T00:00:00Z", "2024-02-29T12:00:00Z", "2024-03-31T12:00:00Z"),
        ("2024-03-31T12:00:00Z", "2024-03-31T12:00:00Z", "2024-04-30T12:00:00Z"),
        ("2024-05-01T00:00:00Z", "2024-04-30T12:00:00Z", "2024-05-31T12:00:00Z"),
    ],
    ids=["in-january-period", "in-february-period", "on-31-march", "in-april-period"],
)
def test_monthly_period_with_31st_anchor_is_clamped_not_drifting(now, start, end):
    period = period_containing(ms("2024-01-31T12:00:00Z"), ResetPeriod.MONTH, ms(now))
    assert period == Period(ms(start), ms(end))


def test_our_choice_on_n_gives_the_period_containing_now():
    # decision-rules.md §4: the reference would answer [28 Oct, 28 Nov) here.
    period = period_containing(ms("2023-02-28T23:59:59Z"), ResetPeriod.MONTH,
                               ms("2023-11-29T14:00:00Z"))
    assert period == Period(ms("2023-11-28T23:59:59Z"), ms("2023-12-28T23:59:59Z"))


@pytest.mark.parametrize(
    "reset, anchor, end",
    [
        (ResetPeriod.HOUR, "2025-07-10T18:00:00Z", "2025-07-10T19:00:00Z"),
        (ResetPeriod.WEEK, "2025-07-13T08:00:00Z", "2025-07-20T08:00:00Z"),
        (ResetPeriod.MONTH, "2025-09-15T00:00:00Z", "2025-10-15T00:00:00Z"),
        (ResetPeriod.YEAR, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"),
    ],
    ids=["hour", "week", "month", "year"],
)
def test_anchor_in_the_future_gives_the_first_period(reset, anchor, end):
    assert period_containing(ms(anchor), reset, NOW) == Period(ms(anchor), ms(end))


# --- when rollover applies ------------------------------------------------------------------

@pytest.mark.parametrize(
    "overrides",
    [dict(anchor=None), dict(reset=None), dict(anchor=None, reset=None)],
    ids=["no-anchor", "no-reset-period", "neither"],
)
def test_missing_anchor_or_reset_leaves_period_unset(overrides):
    rolled = effective_usage(v6_messages(**overrides), NOW)
    assert rolled == Usage(0.0, None, None, ms("2025-07-08T10:00:00Z"))


@pytest.mark.parametrize(
    "entitlement",
    [
        v6_messages(end="2025-07-10T15:30:00Z"),
        v6_messages(end="2025-07-16T08:00:00Z"),
        v6_messages(end=None),
        numeric("seats", 10, usage=Usage(7, ms("2025-06-01T00:00:00Z"), ms("2025-07-01T00:00:00Z"))),
        numeric("seats", 10, meter_type=None,
                usage=Usage(7, ms("2025-06-01T00:00:00Z"), ms("2025-07-01T00:00:00Z"))),
    ],
    ids=["period-ends-exactly-now", "period-not-over", "no-period-end", "numeric",
         "numeric-null-meter"],
)
def test_usage_untouched(entitlement):
    assert effective_usage(entitlement, NOW) is entitlement.usage


@pytest.mark.parametrize("meter_type", [MeterType.INCREMENTAL, MeterType.FLUCTUATING])
def test_both_meter_types_roll_over(meter_type):
    assert effective_usage(v6_messages(meter_type=meter_type), NOW).current_usage == 0


def test_rollover_one_ms_after_period_end():
    entitlement = v6_messages(end=NOW - 1)
    assert effective_usage(entitlement, NOW).current_usage == 0
