"""The core decision (decision-rules.md §2), customer-level reasons (§3) and credits (§5)."""
from __future__ import annotations

import math

import pytest

from domain.model.evaluation import (
    Decision,
    credit_remaining,
    evaluate_credit,
    evaluate_feature,
    missing_reason,
    normalize_requested_usage,
    within_limit,
)
from domain.model.kinds import AccessDeniedReason as R
from domain.model.kinds import MeterType
from tests.fakes import epoch_ms
from tests.fakes.builders import boolean, credit, entitlement_set, enum, metered, numeric

NOW = epoch_ms("2025-07-10T15:30:00Z")


def decide(entitlement, *, requested_usage=None, requested_values=(), others=(), reason=None):
    entitlements = entitlement_set(entitlement, *others, reason=reason)
    return evaluate_feature(
        entitlement,
        entitlements,
        requested_usage=requested_usage,
        requested_values=tuple(requested_values),
        now_ms=NOW,
    )


ALLOW = Decision(True, None)


def deny(reason: R) -> Decision:
    return Decision(False, reason)


# --- §2 rule 3, metered -------------------------------------------------------------

METERED_CASES = [
    # (limit, current, requested, unlimited, soft, expected)
    (100, 95, 5, False, False, ALLOW),
    (100, 95, 6, False, False, deny(R.REQUESTED_USAGE_EXCEEDING_LIMIT)),
    (100, 95, None, False, False, ALLOW),
    (100, 100, None, False, False, ALLOW),
    (100, 100, 0, False, False, ALLOW),
    (100, 100, 1, False, False, deny(R.REQUESTED_USAGE_EXCEEDING_LIMIT)),
    (100, 101, None, False, False, deny(R.REQUESTED_USAGE_EXCEEDING_LIMIT)),
    (None, 0, None, False, False, ALLOW),
    (None, 0, 1, False, False, deny(R.REQUESTED_USAGE_EXCEEDING_LIMIT)),
    (0, 0, None, False, False, ALLOW),
    (100, 95, math.nan, False, False, ALLOW),
    (100, 100, math.nan, False, False, ALLOW),
    (100, 101, math.nan, False, False, deny(R.REQUESTED_USAGE_EXCEEDING_LIMIT)),
    (100, 100, -5, False, False, ALLOW),
    (100, 104, -5, False, False, ALLOW),
    (100, 106, -5, False, False, deny(R.REQUESTED_USAGE_EXCEEDING_LIMIT)),
    (50, 72, 10, False, True, ALLOW),
    (None, 1_000_000, 500, True, False, ALLOW),
    (10, 1_000_000, 500, True, False, ALLOW),
    (None, 5, 5, False, True, ALLOW),
]


@pytest.mark.parametrize(
    "limit, current, requested, unlimited, soft, expected",
    METERED_CASES,
    ids=[
        "within-limit",
        "over-limit",
        "nothing-requested-below-limit",
        "at-limit-nothing-requested",
        "at-limit-requesting-zero",
        "at-limit-requesting-one",
        "already-over-limit",
        "null-limit-nothing-requested",
        "null-limit-requesting-one",
        "zero-limit-nothing-requested",
        "nan-requested-counts-0",
        "nan-requested-at-limit",
        "nan-requested-over-limit",
        "negative-requested-at-limit",
        "negative-requested-brings-under",
        "negative-requested-still-over",
        "soft-limit-grants-past-limit",
        "unlimited-null-limit",
        "unlimited-beats-limit",
        "soft-limit-null-limit",
    ],
)
def test_metered_decision(limit, current, requested, unlimited, soft, expected):
    entitlement = metered(limit=limit, current=current, has_unlimited_usage=unlimited,
                          has_soft_limit=soft)
    assert decide(entitlement, requested_usage=requested) == expected


@pytest.mark.parametrize("meter_type", [MeterType.INCREMENTAL, MeterType.FLUCTUATING],
                         ids=["incremental", "fluctuating"])
def test_both_meter_types_are_gated(meter_type):
    entitlement = metered(limit=10, current=10, meter_type=meter_type)
    assert decide(entitlement, requested_usage=1) == deny(R.REQUESTED_USAGE_EXCEEDING_LIMIT)


# --- float tolerance ----------------------------------------------------------------

@pytest.mark.parametrize(
    "current, requested, limit, allowed",
    [
        (0.1, 0.2, 0.3, True),
        (0.0, 0.1 + 0.2, 0.3, True),
        (0.3, 1e-6, 0.3, False),
        (0.3, 0.0001, 0.3, False),
        (1e9, 1.0, 1e9, False),
        (1e12, 1.0, 1e12, False),
        (1e12 - 1, 1.0, 1e12, True),
        (2.5e9, 2.0, 2.5e9, False),
        (2.0**48, 1.0, 2.0**48, False),
        (1e15, 1.0, 1e15, False),
        (1e15 - 1, 1.0, 1e15, True),
    ],
    ids=["0.1+0.2-at-0.3", "sum-as-request", "just-over-small", "tenth-mille-over",
         "at-1e9-requesting-1", "at-1e12-requesting-1", "exactly-at-1e12",
         "at-2.5e9-requesting-2", "at-2^48-requesting-1", "at-1e15-requesting-1",
         "exactly-at-1e15"],
)
def test_float_tolerance(current, requested, limit, allowed):
    assert within_limit(current, requested, limit) is allowed
    entitlement = metered(limit=limit, current=current)
    assert decide(entitlement, requested_usage=requested).has_access is allowed


def test_normalize_requested_usage():
    assert normalize_requested_usage(None) == 0
    assert normalize_requested_usage(math.nan) == 0
    assert normalize_requested_usage(-3.5) == -3.5
    assert normalize_requested_usage(7) == 7


# --- §2 rule 3, other kinds ---------------------------------------------------------

@pytest.mark.parametrize(
    "values, requested, expected",
    [
        (("eu", "us"), ("eu",), ALLOW),
        (("eu", "us"), ("eu", "us"), ALLOW),
        (("eu", "us"), ("eu", "apac"), deny(R.REQUESTED_VALUES_MISMATCH)),
        (("eu", "us"), ("apac",), deny(R.REQUESTED_VALUES_MISMATCH)),
        (("eu", "us"), (), ALLOW),
        ((), (), ALLOW),
        ((), ("eu",), deny(R.REQUESTED_VALUES_MISMATCH)),
        (("eu",), ("eu", "eu"), ALLOW),
    ],
    ids=["one-in", "all-in", "one-out", "only-out", "empty-requested",
         "empty-requested-empty-values", "empty-values", "duplicates"],
)
def test_enum_decision(values, requested, expected):
    assert decide(enum(values=values), requested_values=requested) == expected


@pytest.mark.parametrize(
    "entitlement",
    [boolean(), numeric(limit=25), numeric(limit=None), numeric(limit=0),
     numeric(limit=5, meter_type=None)],
    ids=["boolean", "numeric", "numeric-null-limit", "numeric-zero", "numeric-null-meter-type"],
)
def test_boolean_and_numeric_always_allow(entitlement):
    assert decide(entitlement, requested_usage=1_000_000, requested_values=("x",)) == ALLOW


def test_numeric_with_usage_past_limit_is_not_gated():
    # our choice, §1.4: numeric features are never gated by their value
    entitlement = numeric(limit=1, meter_type=None)
    assert decide(entitlement, requested_usage=50) == ALLOW


# --- §2 rule 2: upstream denial ------------------------------------------------------

@pytest.mark.parametrize(
    "entitlement",
    [boolean(denied=R.BUDGET_EXCEEDED),
     metered(limit=1000, current=0, denied=R.BUDGET_EXCEEDED),
     metered(limit=1000, has_unlimited_usage=True, denied=R.BUDGET_EXCEEDED),
     metered(limit=1000, has_soft_limit=True, denied=R.BUDGET_EXCEEDED),
     numeric(limit=5, denied=R.BUDGET_EXCEEDED),
     enum(values=("eu",), denied=R.BUDGET_EXCEEDED)],
    ids=["boolean", "metered-within", "metered-unlimited", "metered-soft", "numeric", "enum"],
)
def test_upstream_denial_wins_over_kind_rules(entitlement):
    assert decide(entitlement, requested_values=("eu",)) == deny(R.BUDGET_EXCEEDED)


@pytest.mark.parametrize("reason", [R.BUDGET_EXCEEDED, R.REVOKED, R.UNKNOWN,
                                    R.INSUFFICIENT_CREDITS, R.FEATURE_NOT_FOUND])
def test_upstream_denial_reason_is_kept(reason):
    assert decide(metered(limit=1000, denied=reason), requested_usage=1) == deny(reason)


def test_granted_decision_carries_no_reason():
    assert Decision.allow().reason is None
    assert decide(boolean()).reason is None


# --- §3 customer-level reasons -------------------------------------------------------

CUSTOMER_REASONS = [R.CUSTOMER_NOT_FOUND, R.NO_ACTIVE_SUBSCRIPTION, R.CUSTOMER_IS_ARCHIVED]


@pytest.mark.parametrize("reason", CUSTOMER_REASONS, ids=lambda r: r.name)
def test_present_entitlement_is_evaluated_despite_customer_reason(reason):
    assert decide(boolean("promo"), reason=reason) == ALLOW
    assert decide(metered(limit=10, current=10), requested_usage=1, reason=reason) == deny(
        R.REQUESTED_USAGE_EXCEEDING_LIMIT
    )


@pytest.mark.parametrize("reason", CUSTOMER_REASONS, ids=lambda r: r.name)
def test_absent_entitlement_reason_is_the_customer_reason(reason):
    entitlements = entitlement_set(reason=reason)
    assert missing_reason(entitlements) is reason
    assert missing_reason(entitlements, credit=True) is reason


def test_absent_entitlement_without_customer_reason():
    entitlements = entitlement_set(boolean("other"))
    assert missing_reason(entitlements) is R.NO_FEATURE_ENTITLEMENT_IN_SUBSCRIPTION
    assert missing_reason(entitlements, credit=True) is R.ENTITLEMENT_NOT_FOUND


# --- §5.1 credit wallets ----------------------------------------------------------------

@pytest.mark.parametrize(
    "limit, current, soft, requested, expected",
    [
        (100, 40, False, None, ALLOW),
        (100, 100, False, None, deny(R.INSUFFICIENT_CREDITS)),
        (100, 130, False, None, deny(R.INSUFFICIENT_CREDITS)),
        (100, 130, True, None, ALLOW),
        (100, 130, True, 50, ALLOW),
        (100, 40, False, 60, ALLOW),
        (100, 40, False, 61, deny(R.INSUFFICIENT_CREDITS)),
        (100, 99.5, False, None, ALLOW),
        (100, 100, False, 0, deny(R.INSUFFICIENT_CREDITS)),
        (100, 40, False, 0, ALLOW),
        (100, 40, False, -10, ALLOW),
        (100, 100, False, -10, deny(R.INSUFFICIENT_CREDITS)),
        (100, 40, False, math.nan, ALLOW),
        (100, 100, False, math.nan, deny(R.INSUFFICIENT_CREDITS)),
        (0, 0, False, None, deny(R.INSUFFICIENT_CREDITS)),
        (0.3, 0.1, False, 0.2, ALLOW),
        (2e9, 2e9, False, 1, deny(R.INSUFFICIENT_CREDITS)),
    ],
    ids=["balance-left", "exhausted", "overdrawn-hard", "overdrawn-soft", "soft-requesting",
         "request-fits-exactly", "request-too-big", "fraction-left", "zero-request-exhausted",
         "zero-request-balance-left", "negative-request-balance-left",
         "negative-request-exhausted", "nan-request-balance-left", "nan-request-exhausted",
         "empty-wallet", "float-sum-at-limit", "large-wallet-exhausted-requesting-1"],
)
def test_credit_decision(limit, current, soft, requested, expected):
    wallet = credit(limit=limit, current=current, soft=soft)
    assert evaluate_credit(wallet, requested) == expected


@pytest.mark.parametrize("reason", [R.BUDGET_EXCEEDED, R.REVOKED, R.INSUFFICIENT_CREDITS])
def test_credit_denial_reason_wins(reason):
    wallet = credit(limit=100, current=0, soft=True, denied=reason)
    assert evaluate_credit(wallet, 1) == deny(reason)


@pytest.mark.parametrize(
    "limit, current, remaining",
    [(100, 40, 60), (100, 130, -30), (0, 0, 0), (10, 10.5, -0.5)],
    ids=["positive", "overdraft-negative", "zero", "fraction-overdraft"],
)
def test_credit_remaining_is_not_clamped(limit, current, remaining):
    assert credit_remaining(credit(limit=limit, current=current)) == remaining


# --- §5.2 credit-backed features ---------------------------------------------------------

@pytest.mark.parametrize(
    "feature, wallet, requested, expected",
    [
        (boolean("ai", credit_rate=(1, "cred")), credit(limit=10, current=10), None,
         deny(R.INSUFFICIENT_CREDITS)),
        (boolean("ai", credit_rate=(1, "cred")), credit(limit=10, current=12), None,
         deny(R.INSUFFICIENT_CREDITS)),
        (boolean("ai", credit_rate=(1, "cred")), credit(limit=10, current=3), None, ALLOW),
        (boolean("ai", credit_rate=(1, "cred")), credit(limit=10, current=12, soft=True), None,
         ALLOW),
        (boolean("ai", credit_rate=(1, "cred"), denied=R.REVOKED), credit(limit=10, current=10),
         None, deny(R.REVOKED)),
        (boolean("ai", credit_rate=(1, "cred"), denied=R.INSUFFICIENT_CREDITS),
         credit(limit=10, current=3), None, ALLOW),
        (boolean("ai", credit_rate=(1, "cred"), denied=R.INSUFFICIENT_CREDITS),
         credit(limit=10, current=30, soft=True), None, ALLOW),
        (boolean("ai", credit_rate=(1, "cred"), denied=R.INSUFFICIENT_CREDITS),
         credit(limit=10, current=10), None, deny(R.INSUFFICIENT_CREDITS)),
        (metered("ai", limit=5, current=5, credit_rate=(1, "cred"), denied=R.INSUFFICIENT_CREDITS),
         credit(limit=10, current=3), 1, deny(R.REQUESTED_USAGE_EXCEEDING_LIMIT)),
        (metered("ai", limit=100, current=0, credit_rate=(10, "cred")),
         credit(limit=10, current=9), 5, ALLOW),
        (boolean("ai", credit_rate=(1, "cred")), credit("other", limit=10, current=10), None,
         ALLOW),
        (boolean("ai", credit_rate=(1, "cred"), denied=R.INSUFFICIENT_CREDITS),
         credit("other", limit=10, current=0), None, deny(R.INSUFFICIENT_CREDITS)),
    ],
    ids=["exhausted-denies", "overdrawn-denies", "balance-left-allows", "soft-wallet-allows",
         "other-reason-kept", "stale-insufficient-ignored-when-refilled",
         "stale-insufficient-ignored-when-soft", "insufficient-kept-when-still-exhausted",
         "ignored-reason-then-evaluated-normally", "rate-times-request-not-checked",
         "wallet-absent-feature-alone", "wallet-absent-upstream-reason-kept"],
)
def test_credit_backed_feature(feature, wallet, requested, expected):
    assert decide(feature, requested_usage=requested, others=(wallet,)) == expected
