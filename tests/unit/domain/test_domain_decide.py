"""Answers per RPC family (decision-rules.md §8.2-§8.5), reference/vectors.md first."""
from __future__ import annotations

import pytest

from domain.model.answers import CreditAnswer, FeatureAnswer
from domain.model.decide import (
    FeatureQuery,
    credit_answer,
    generic_answer,
    invalid_feature_answer,
    state_answer,
    typed_answer,
)
from domain.model.entitlement import Currency, Feature, Usage
from domain.model.fallback import EMPTY_FALLBACK_TABLE, FallbackTable, FallbackValues
from domain.model.kinds import AccessDeniedReason as R
from domain.model.kinds import FeatureKind as K
from domain.model.kinds import FeatureType, MeterType, ResetPeriod
from tests.fakes import epoch_ms as ms
from tests.fakes.builders import boolean, credit, entitlement_set, enum, metered, numeric

NOW = ms("2025-07-10T15:30:00Z")
NO_TABLE = EMPTY_FALLBACK_TABLE


def typed(kind, entitlements, feature_id, table=NO_TABLE, **query):
    return typed_answer(kind, entitlements, FeatureQuery(feature_id, **query), table, NOW)


def generic(entitlements, feature_id, table=NO_TABLE, **query):
    return generic_answer(entitlements, FeatureQuery(feature_id, **query), table, NOW)


def flags(answer):
    return answer.has_access, answer.is_fallback, answer.reason


V2_API_CALLS = dict(
    limit=100, current=95, reset=ResetPeriod.MONTH, anchor="2025-01-01T00:00:00Z",
    start="2025-07-01T00:00:00Z", end="2025-08-01T00:00:00Z",
)


# --- §8.2 typed: vectors ---------------------------------------------------------------------

def test_v1_boolean_granted():
    answer = typed(K.BOOLEAN, entitlement_set(boolean("sso")), "sso")
    assert flags(answer) == (True, False, None)
    assert answer.data.feature == Feature("sso", FeatureType.BOOLEAN, MeterType.NONE)
    assert answer.data.kind is K.BOOLEAN


@pytest.mark.parametrize(
    "requested, has_access, reason, echoed",
    [(5, True, None, 5), (6, False, R.REQUESTED_USAGE_EXCEEDING_LIMIT, 6), (None, True, None, 0)],
    ids=["5", "6", "absent"],
)
def test_v2_metered_within_and_over(requested, has_access, reason, echoed):
    answer = typed(K.METERED, entitlement_set(metered("api-calls", **V2_API_CALLS)), "api-calls",
                   requested_usage=requested)
    assert flags(answer) == (has_access, False, reason)
    assert answer.requested_usage == echoed
    data = answer.data
    assert (data.usage_limit, data.is_unlimited, data.has_soft_limit) == (100, False, False)
    assert data.usage == Usage(95, ms("2025-07-01T00:00:00Z"), ms("2025-08-01T00:00:00Z"), 0)
    assert data.reset_period is ResetPeriod.MONTH
    assert data.usage_period_anchor_ms == ms("2025-01-01T00:00:00Z")
    assert data.feature.meter_type is MeterType.INCREMENTAL and data.kind is K.METERED


@pytest.mark.parametrize("requested, has_access", [(None, True), (1, False)])
def test_v2_at_limit(requested, has_access):
    entitlements = entitlement_set(metered("api-calls", **{**V2_API_CALLS, "current": 100}))
    answer = typed(K.METERED, entitlements, "api-calls", requested_usage=requested)
    assert answer.has_access is has_access


def test_v3_soft_limit():
    entitlements = entitlement_set(metered("storage-gb", 50, 72, meter_type=MeterType.FLUCTUATING,
                                           has_soft_limit=True))
    answer = typed(K.METERED, entitlements, "storage-gb", requested_usage=10)
    assert flags(answer) == (True, False, None)
    assert (answer.data.has_soft_limit, answer.data.usage_limit) == (True, 50)
    assert answer.data.usage.current_usage == 72 and answer.requested_usage == 10


def test_v4_unlimited():
    entitlements = entitlement_set(metered("api-calls", None, 1_000_000, has_unlimited_usage=True))
    answer = typed(K.METERED, entitlements, "api-calls", requested_usage=500)
    assert flags(answer) == (True, False, None)
    assert answer.data.is_unlimited is True and answer.data.usage_limit is None
    assert answer.data.usage.current_usage == 1_000_000


@pytest.mark.parametrize("requested, has_access", [(None, True), (1, False)])
def test_v5_null_limit(requested, has_access):
    answer = typed(K.METERED, entitlement_set(metered("exports", None, 0)), "exports",
                   requested_usage=requested)
    assert flags(answer) == (
        has_access, False, None if has_access else R.REQUESTED_USAGE_EXCEEDING_LIMIT)
    assert answer.data.usage_limit is None


def test_v6_typed_metered_rollover():
    entitlements = entitlement_set(metered(
        "messages", 10, 10, reset=ResetPeriod.WEEK, anchor="2025-05-14T08:00:00Z",
        start="2025-07-02T08:00:00Z", end="2025-07-09T08:00:00Z"))
    answer = typed(K.METERED, entitlements, "messages", requested_usage=5)
    assert flags(answer) == (True, False, None)
    assert answer.data.usage == Usage(0, ms("2025-07-09T08:00:00Z"), ms("2025-07-16T08:00:00Z"), 0)
    assert answer.data.usage_period_anchor_ms == ms("2025-05-14T08:00:00Z")
    assert answer.data.reset_period is ResetPeriod.WEEK and answer.requested_usage == 5


@pytest.mark.parametrize(
    "requested, has_access, reason",
    [(("eu",), True, None), (("eu", "apac"), False, R.REQUESTED_VALUES_MISMATCH), ((), True, None)],
    ids=["eu", "eu-apac", "empty"],
)
def test_v7_enum(requested, has_access, reason):
    answer = typed(K.ENUM, entitlement_set(enum("region", ("eu", "us"))), "region",
                   requested_values=requested)
    assert flags(answer) == (has_access, False, reason)
    assert answer.requested_values == requested
    assert answer.data.enum_values == ("eu", "us")
    assert answer.data.feature.feature_type is FeatureType.ENUM


@pytest.mark.parametrize(
    "limit, meter_type, value",
    [(25, MeterType.NONE, 25), (7.9, MeterType.NONE, 7), (30_000_000_000, MeterType.NONE, 2147483647),
     (None, MeterType.NONE, None), (25, None, 25)],
    ids=["25", "7.9", "3e10", "null", "null-meter-type"],
)
def test_v8_numeric(limit, meter_type, value):
    answer = typed(K.NUMERIC, entitlement_set(numeric("seats", limit, meter_type=meter_type)),
                   "seats")
    assert flags(answer) == (True, False, None)
    assert (answer.data.value, answer.data.is_unlimited) == (value, False)
    assert answer.data.kind is K.NUMERIC


@pytest.mark.parametrize("reason", [R.BUDGET_EXCEEDED, R.REVOKED, R.UNKNOWN])
def test_v9_upstream_denial_keeps_data(reason):
    entitlements = entitlement_set(metered("api-calls", 1000, 0, denied=reason))
    answer = typed(K.METERED, entitlements, "api-calls", requested_usage=1)
    assert flags(answer) == (False, False, reason)
    assert answer.data.usage_limit == 1000 and answer.data.usage.current_usage == 0


def test_v10_type_mismatch():
    entitlements = entitlement_set(metered("api-calls", **V2_API_CALLS))
    answer = typed(K.BOOLEAN, entitlements, "api-calls")
    assert flags(answer) == (False, True, R.FEATURE_TYPE_MISMATCH)
    assert answer.mismatched_kind is K.METERED and answer.data.feature is None


def test_v10_type_mismatch_with_granting_per_request_fallback():
    entitlements = entitlement_set(metered("api-calls", **V2_API_CALLS))
    answer = typed(K.BOOLEAN, entitlements, "api-calls", fallback=FallbackValues(has_access=True))
    assert flags(answer) == (True, True, None)
    assert answer.mismatched_kind is K.METERED


def test_v10_type_mismatch_with_granting_global_entry():
    entitlements = entitlement_set(metered("api-calls", **V2_API_CALLS))
    table = FallbackTable({"api-calls": FallbackValues(has_access=True)})
    assert flags(typed(K.BOOLEAN, entitlements, "api-calls", table)) == (True, True, None)


def test_v11_customer_not_found_typed():
    ghost = entitlement_set(reason=R.CUSTOMER_NOT_FOUND)
    assert flags(typed(K.BOOLEAN, ghost, "sso")) == (False, False, R.CUSTOMER_NOT_FOUND)
    answer = typed(K.METERED, ghost, "api-calls", requested_usage=2)
    assert flags(answer) == (False, False, R.CUSTOMER_NOT_FOUND)
    assert answer.data.usage.current_usage == 0 and answer.data.usage_limit is None
    assert answer.data.has_soft_limit is False and answer.requested_usage == 2


def test_v12_cold_cache_global_entry_typed():
    table = FallbackTable({"exports": FallbackValues(has_access=True, usage_limit=500)})
    answer = typed(K.METERED, None, "exports", table, requested_usage=2)
    assert flags(answer) == (True, True, None)
    data = answer.data
    assert (data.usage_limit, data.usage.current_usage, data.is_unlimited, data.has_soft_limit) == (
        500, 0, False, False)
    assert answer.requested_usage == 2
    other = typed(K.METERED, None, "reports", table)
    assert flags(other) == (False, True, R.UNKNOWN)
    assert other.data.usage_limit is None and other.requested_usage == 0


def test_v13_per_request_fallback_is_not_merged():
    table = FallbackTable({"exports": FallbackValues(has_access=True, usage_limit=500)})
    denied = typed(K.METERED, None, "exports", table, requested_usage=2,
                   fallback=FallbackValues(has_access=False))
    assert flags(denied) == (False, True, R.UNKNOWN)
    assert denied.data.usage_limit is None and denied.requested_usage == 2
    unlimited = typed(K.METERED, None, "exports", table, requested_usage=2,
                      fallback=FallbackValues(has_access=True, is_unlimited=True))
    assert flags(unlimited) == (True, True, None)
    assert unlimited.data.is_unlimited is True and unlimited.data.usage_limit is None


# --- §8.2 typed: absent and mismatch tables ----------------------------------------------------

@pytest.mark.parametrize("kind", list(K), ids=lambda k: k.value)
@pytest.mark.parametrize(
    "reason", [None, R.CUSTOMER_NOT_FOUND, R.NO_ACTIVE_SUBSCRIPTION, R.CUSTOMER_IS_ARCHIVED],
    ids=lambda r: r.name if r else "no-customer-reason",
)
def test_typed_absent_is_a_denial_with_zero_data(kind, reason):
    entitlements = entitlement_set(boolean("other"), reason=reason)
    answer = typed(kind, entitlements, "missing", requested_usage=3 if kind is K.METERED else None,
                   requested_values=("eu",) if kind is K.ENUM else ())
    expected = reason or R.NO_FEATURE_ENTITLEMENT_IN_SUBSCRIPTION
    assert flags(answer) == (False, False, expected)
    data = answer.data
    assert data.kind is kind and data.feature is None
    assert (data.usage_limit, data.value, data.is_unlimited, data.has_soft_limit,
            data.enum_values) == (None, None, False, False, ())
    if kind is K.METERED:
        assert data.usage == Usage() and answer.requested_usage == 3
    else:
        assert data.usage is None and answer.requested_usage == 0
    assert answer.requested_values == (("eu",) if kind is K.ENUM else ())


def test_typed_absent_ignores_fallbacks():
    table = FallbackTable({"missing": FallbackValues(has_access=True)})
    answer = typed(K.BOOLEAN, entitlement_set(), "missing", table,
                   fallback=FallbackValues(has_access=True))
    assert flags(answer) == (False, False, R.NO_FEATURE_ENTITLEMENT_IN_SUBSCRIPTION)


ACTUAL = {
    K.BOOLEAN: boolean("f"),
    K.NUMERIC: numeric("f", 5),
    K.METERED: metered("f", 5),
    K.ENUM: enum("f", ("a",)),
}


@pytest.mark.parametrize(
    "asked, actual",
    [(a, b) for a in K for b in K if a is not b],
    ids=lambda k: k.value,
)
def test_typed_mismatch_is_a_fallback_of_the_asked_kind(asked, actual):
    answer = typed(asked, entitlement_set(ACTUAL[actual]), "f", requested_usage=4,
                   requested_values=("a",))
    assert flags(answer) == (False, True, R.FEATURE_TYPE_MISMATCH)
    assert answer.data.kind is asked and answer.mismatched_kind is actual
    assert answer.data.feature is None
    assert answer.requested_usage == 4 and answer.requested_values == ("a",)


def test_typed_numeric_with_null_meter_type_is_no_mismatch():
    answer = typed(K.NUMERIC, entitlement_set(numeric("seats", 5, meter_type=None)), "seats")
    assert flags(answer) == (True, False, None) and answer.mismatched_kind is None


@pytest.mark.parametrize("kind", list(K), ids=lambda k: k.value)
def test_typed_load_failure_is_an_unknown_fallback(kind):
    answer = typed(kind, None, "anything")
    assert flags(answer) == (False, True, R.UNKNOWN)
    assert answer.data.kind is kind and answer.mismatched_kind is None


def test_typed_fallback_uses_fields_of_its_kind_only():
    table = FallbackTable({"f": FallbackValues(True, usage_limit=500)})
    answer = typed(K.BOOLEAN, None, "f", table)
    assert flags(answer) == (True, True, None)
    assert answer.data.usage_limit is None and answer.data.usage is None


def test_typed_enum_fallback_echoes_requested_values():
    answer = typed(K.ENUM, None, "region", requested_values=("eu",))
    assert answer.requested_values == ("eu",) and answer.data.enum_values == ()


def test_typed_answer_after_rollover_reports_next_period():
    entitlements = entitlement_set(metered(
        "m", 10, 10, reset=ResetPeriod.DAY, anchor="2025-07-01T00:00:00Z",
        start="2025-07-09T00:00:00Z", end="2025-07-10T00:00:00Z"))
    answer = typed(K.METERED, entitlements, "m", requested_usage=10)
    assert answer.has_access is True
    assert answer.data.usage.period_end_ms == ms("2025-07-11T00:00:00Z")


# --- §8.3 generic ----------------------------------------------------------------------------

@pytest.mark.parametrize(
    "entitlement, kind",
    [(boolean("f"), K.BOOLEAN), (numeric("f", 5), K.NUMERIC), (metered("f", 5), K.METERED),
     (enum("f", ("a",)), K.ENUM)],
    ids=lambda v: v.value if isinstance(v, K) else "",
)
def test_generic_member_follows_actual_kind(entitlement, kind):
    answer = generic(entitlement_set(entitlement), "f", requested_usage=1)
    assert answer.data.kind is kind and answer.is_fallback is False
    assert answer.mismatched_kind is None


def test_generic_uses_requested_usage_and_values():
    entitlements = entitlement_set(metered("m", 10, 10), enum("e", ("a",)))
    assert flags(generic(entitlements, "m", requested_usage=1)) == (
        False, False, R.REQUESTED_USAGE_EXCEEDING_LIMIT)
    assert flags(generic(entitlements, "e", requested_values=("b",))) == (
        False, False, R.REQUESTED_VALUES_MISMATCH)


@pytest.mark.parametrize(
    "reason", [None, R.CUSTOMER_NOT_FOUND, R.NO_ACTIVE_SUBSCRIPTION, R.CUSTOMER_IS_ARCHIVED],
    ids=lambda r: r.name if r else "no-customer-reason",
)
def test_generic_absent_is_a_fallback_with_the_real_reason(reason):
    answer = generic(entitlement_set(reason=reason), "missing")
    assert flags(answer) == (False, True, reason or R.NO_FEATURE_ENTITLEMENT_IN_SUBSCRIPTION)


def test_generic_absent_granting_fallback_has_no_reason():
    answer = generic(entitlement_set(reason=R.CUSTOMER_NOT_FOUND), "missing",
                     fallback=FallbackValues(has_access=True))
    assert flags(answer) == (True, True, None)


@pytest.mark.parametrize(
    "table, query, kind",
    [
        (NO_TABLE, {}, K.BOOLEAN),
        (NO_TABLE, {"requested_usage": 2}, K.METERED),
        (NO_TABLE, {"requested_values": ("eu",)}, K.ENUM),
        (FallbackTable({"f": FallbackValues(True, value=10)}), {}, K.NUMERIC),
        (FallbackTable({"f": FallbackValues(True, usage_limit=500)}), {}, K.METERED),
        (FallbackTable({"f": FallbackValues(True, enum_values=("eu",))}), {}, K.ENUM),
        (FallbackTable({"f": FallbackValues(True, usage_limit=500)}),
         {"fallback": FallbackValues(True)}, K.BOOLEAN),
        (FallbackTable({"f": FallbackValues(True, value=10)}), {"requested_values": ("x",)}, K.ENUM),
    ],
    ids=["defaults", "requested-usage", "requested-values", "global-value", "global-limit",
         "global-enum", "per-request-replaces-global", "options-beat-content"],
)
def test_generic_fallback_kind(table, query, kind):
    assert generic(None, "f", table, **query).data.kind is kind
    assert generic(entitlement_set(), "f", table, **query).data.kind is kind


def test_generic_load_failure():
    table = FallbackTable({"exports": FallbackValues(True, usage_limit=500)})
    answer = generic(None, "exports", table)
    assert flags(answer) == (True, True, None)
    assert answer.data.kind is K.METERED and answer.data.usage_limit == 500
    assert flags(generic(None, "other", table)) == (False, True, R.UNKNOWN)


def test_invalid_feature_answer_uses_table_for_the_feature():
    table = FallbackTable({"exports": FallbackValues(True, usage_limit=500)})
    answer = invalid_feature_answer(FeatureQuery("exports"), table)
    assert flags(answer) == (True, True, None) and answer.data.usage_limit == 500
    assert flags(invalid_feature_answer(FeatureQuery(""), table)) == (False, True, R.UNKNOWN)


# --- §8.4 credits ---------------------------------------------------------------------------------

def test_credit_answer_carries_wallet_data():
    currency = Currency("cred", "Credits", "AI credits", "credit", "credits", {"tier": "gold"})
    wallet = credit(limit=100, current=130, soft=True, end="2025-08-01T00:00:00Z", currency=currency)
    answer = credit_answer(entitlement_set(wallet), "cred", None, None)
    assert isinstance(answer, CreditAnswer)
    assert flags(answer) == (True, False, None)
    assert answer.currency == currency
    assert (answer.usage_limit, answer.current_usage, answer.remaining) == (100, 130, -30)
    assert answer.usage_period_end_ms == ms("2025-08-01T00:00:00Z")
    assert answer.has_soft_limit is True


@pytest.mark.parametrize(
    "current, requested, expected",
    [(40, None, (True, False, None)), (100, None, (False, False, R.INSUFFICIENT_CREDITS)),
     (40, 61, (False, False, R.INSUFFICIENT_CREDITS)), (40, 60, (True, False, None))],
    ids=["balance", "exhausted", "request-too-big", "request-fits"],
)
def test_credit_answer_decision(current, requested, expected):
    answer = credit_answer(entitlement_set(credit(limit=100, current=current)), "cred", requested,
                           None)
    assert flags(answer) == expected


@pytest.mark.parametrize(
    "reason, expected",
    [(None, R.ENTITLEMENT_NOT_FOUND), (R.CUSTOMER_NOT_FOUND, R.CUSTOMER_NOT_FOUND),
     (R.NO_ACTIVE_SUBSCRIPTION, R.NO_ACTIVE_SUBSCRIPTION)],
    ids=["no-customer-reason", "customer-not-found", "no-subscription"],
)
def test_credit_absent_is_a_fallback_with_the_real_reason(reason, expected):
    answer = credit_answer(entitlement_set(credit("other", 5), reason=reason), "cred", None, None)
    assert flags(answer) == (False, True, expected)
    assert answer.currency == Currency("cred")


def test_credit_absent_granting_per_request_fallback():
    answer = credit_answer(entitlement_set(), "cred", None, FallbackValues(True, usage_limit=7))
    assert flags(answer) == (True, True, None)
    assert (answer.usage_limit, answer.remaining) == (7, 7)


def test_credit_load_failure():
    assert flags(credit_answer(None, "cred", 5, None)) == (False, True, R.UNKNOWN)


# --- §8.5 bulk ----------------------------------------------------------------------------------

def test_state_answer_evaluates_everything_in_upstream_order_with_nothing_requested():
    entitlements = entitlement_set(
        metered("over", 10, 12),
        boolean("sso"),
        metered("at", 10, 10),
        enum("region", ("eu",)),
        numeric("seats", 5),
        boolean("gone", denied=R.REVOKED),
        credit("cred", 100, 40),
        credit("empty", 10, 10),
    )
    state = state_answer(entitlements, NOW)
    assert state.reason is None and state.is_fallback is False
    summary = []
    for item in state.items:
        name = item.data.feature.id if isinstance(item, FeatureAnswer) else item.currency.currency_id
        summary.append((name, item.has_access, item.is_fallback, item.reason))
    assert summary == [
        ("over", False, False, R.REQUESTED_USAGE_EXCEEDING_LIMIT),
        ("sso", True, False, None),
        ("at", True, False, None),
        ("region", True, False, None),
        ("seats", True, False, None),
        ("gone", False, False, R.REVOKED),
        ("cred", True, False, None),
        ("empty", False, False, R.INSUFFICIENT_CREDITS),
    ]
    assert all(i.requested_usage == 0 and i.requested_values == ()
               for i in state.items if isinstance(i, FeatureAnswer))


def test_state_answer_applies_rollover():
    entitlements = entitlement_set(metered(
        "messages", 10, 10, reset=ResetPeriod.WEEK, anchor="2025-05-14T08:00:00Z",
        start="2025-07-02T08:00:00Z", end="2025-07-09T08:00:00Z"))
    (item,) = state_answer(entitlements, NOW).items
    assert item.has_access is True
    assert item.data.usage == Usage(0, ms("2025-07-09T08:00:00Z"), ms("2025-07-16T08:00:00Z"), 0)


@pytest.mark.parametrize("reason", [R.CUSTOMER_NOT_FOUND, R.NO_ACTIVE_SUBSCRIPTION, None])
def test_state_answer_top_level_reason(reason):
    state = state_answer(entitlement_set(reason=reason), NOW)
    assert state.items == () and state.reason is reason


def test_state_answer_keeps_the_first_of_duplicate_features():
    first, second = metered("dup", 10, 1), metered("dup", 99, 1)
    (item,) = state_answer(entitlement_set(first, second), NOW).items
    assert item.data.usage_limit == 10


def test_state_answer_credit_backed_feature():
    entitlements = entitlement_set(boolean("ai", credit_rate=(1, "cred")), credit("cred", 10, 10))
    feature, wallet = state_answer(entitlements, NOW).items
    assert flags(feature) == (False, False, R.INSUFFICIENT_CREDITS)
    assert flags(wallet) == (False, False, R.INSUFFICIENT_CREDITS)


def test_state_answer_keeps_the_first_of_duplicate_wallets():
    # Same rule as for features (§1.2): one item per id, the first wins.
    first, second = credit("dup", 10, 1), credit("dup", 99, 1)
    items = state_answer(entitlement_set(first, second), NOW).items
    assert [(i.currency.currency_id, i.usage_limit) for i in items] == [("dup", 10)]
