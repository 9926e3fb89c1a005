"""Small value objects: keys, kinds, reasons, sets, expiry, budgets, validation."""
from __future__ import annotations

import math

import pytest

from domain.model.budget import Budget
from domain.model.entitlement import Usage, is_expired
from domain.model.errors import InvalidRequestError
from domain.model.identifiers import CustomerKey
from domain.model.kinds import AccessDeniedReason as R
from domain.model.kinds import FeatureKind as K
from domain.model.kinds import FeatureType, MeterType, classify
from domain.model.validation import MAX_ID_LENGTH, id_problem, require_finite, require_id
from tests.fakes.builders import boolean, credit, entitlement_set, metered

# --- CustomerKey (decision-rules.md §7) -----------------------------------------------------

@pytest.mark.parametrize(
    "customer, resource, expected, text",
    [("acme", None, CustomerKey("acme"), "c_acme"),
     ("acme", "", CustomerKey("acme"), "c_acme"),
     ("acme", "r1", CustomerKey("acme", "r1"), "c_acme:r_r1")],
    ids=["global", "empty-resource-is-global", "resource"],
)
def test_customer_key(customer, resource, expected, text):
    key = CustomerKey.of(customer, resource)
    assert key == expected and str(key) == text


def test_global_key():
    assert CustomerKey("acme", "r1").global_key == CustomerKey("acme")
    key = CustomerKey("acme")
    assert key.global_key is key


# --- kinds and reasons (§1.4, grpc-contract) -----------------------------------------------

@pytest.mark.parametrize(
    "feature_type, meter_type, kind",
    [(FeatureType.BOOLEAN, MeterType.NONE, K.BOOLEAN), (FeatureType.BOOLEAN, None, K.BOOLEAN),
     (FeatureType.ENUM, MeterType.NONE, K.ENUM), (FeatureType.ENUM, None, K.ENUM),
     (FeatureType.NUMBER, MeterType.NONE, K.NUMERIC), (FeatureType.NUMBER, None, K.NUMERIC),
     (FeatureType.NUMBER, MeterType.INCREMENTAL, K.METERED),
     (FeatureType.NUMBER, MeterType.FLUCTUATING, K.METERED)],
    ids=["bool", "bool-null", "enum", "enum-null", "numeric", "numeric-null-meter",
         "incremental", "fluctuating"],
)
def test_classify(feature_type, meter_type, kind):
    assert classify(feature_type, meter_type) is kind


@pytest.mark.parametrize(
    "name, reason",
    [(None, None), ("BudgetExceeded", R.BUDGET_EXCEEDED), ("Revoked", R.REVOKED),
     ("CustomerNotFound", R.CUSTOMER_NOT_FOUND), ("SomethingNew", R.UNKNOWN), ("", R.UNKNOWN)],
    ids=["null", "budget", "revoked", "customer", "unrecognised", "empty"],
)
def test_reason_parse(name, reason):
    assert R.parse(name) is reason


# --- EntitlementSet (§1.2) ------------------------------------------------------------------

def test_first_duplicate_feature_wins():
    first, second = metered("dup", 10), metered("dup", 99)
    entitlements = entitlement_set(first, boolean("sso"), second)
    assert entitlements.feature("dup") is first
    assert entitlements.duplicate_feature_ids() == ["dup"]
    assert entitlements.feature("nope") is None


def test_first_duplicate_credit_wins():
    first, second = credit("c", 10), credit("c", 99)
    assert entitlement_set(first, second).credit("c") is first


def test_with_feature_usage_replaces_only_that_feature():
    entitlements = entitlement_set(metered("a", 10, 1), metered("b", 10, 2))
    updated = entitlements.with_feature_usage("a", Usage(7, None, None, 5))
    assert updated.feature("a").usage == Usage(7, None, None, 5)
    assert updated.feature("b").usage.current_usage == 2
    assert entitlements.feature("a").usage.current_usage == 1
    assert entitlements.with_feature_usage("zzz", Usage()) is None


def test_with_credit_usage_replaces_only_that_wallet():
    entitlements = entitlement_set(credit("a", 10, 1), credit("b", 10, 2))
    updated = entitlements.with_credit_usage("b", Usage(9, None, None, 5))
    assert updated.credit("b").usage.current_usage == 9
    assert updated.credit("a").usage.current_usage == 1
    assert entitlements.with_credit_usage("zzz", Usage()) is None


# --- expiry (§6) ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "valid_until, now, expired",
    [(None, 1000, False), (1001, 1000, False), (1000, 1000, True), (999, 1000, True)],
    ids=["never", "future", "exactly-now", "past"],
)
def test_is_expired(valid_until, now, expired):
    assert is_expired(valid_until, now) is expired


@pytest.mark.parametrize(
    "entitlements, expired",
    [(entitlement_set(boolean("a"), credit("c")), False),
     (entitlement_set(boolean("a", valid_until=100), credit("c")), True),
     (entitlement_set(boolean("a"), credit("c", valid_until=100)), True),
     (entitlement_set(boolean("a", valid_until=10_000)), False)],
    ids=["none", "feature", "credit", "future"],
)
def test_any_expired(entitlements, expired):
    assert entitlements.any_expired(1000) is expired


# --- Budget -------------------------------------------------------------------------------------

def test_budget():
    budget = Budget.starting(100.0, 0.3)
    assert budget.deadline == pytest.approx(100.3)
    assert budget.remaining(100.1) == pytest.approx(0.2)
    assert budget.remaining(200.0) == 0
    assert Budget.starting(100.0, -5).deadline == 100.0


def test_budget_shortened_to_the_earlier_deadline():
    budget = Budget(10.0)
    assert budget.shortened_to(None) is budget
    assert budget.shortened_to(Budget(5.0)) == Budget(5.0)
    assert budget.shortened_to(Budget(20.0)) is budget


# --- validation ----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "value, required, problem",
    [("acme", True, None), ("", True, "must not be empty"), (None, True, "must not be empty"),
     ("", False, None), (None, False, None), ("x" * MAX_ID_LENGTH, True, None),
     ("x" * (MAX_ID_LENGTH + 1), False, f"must be at most {MAX_ID_LENGTH} characters")],
    ids=["ok", "empty", "none", "optional-empty", "optional-none", "longest", "too-long"],
)
def test_id_problem(value, required, problem):
    assert id_problem(value, required=required) == problem


def test_require_id_names_the_field():
    with pytest.raises(InvalidRequestError) as caught:
        require_id("usages[3].feature_id", "")
    assert str(caught.value) == "usages[3].feature_id must not be empty"
    assert caught.value.field == "usages[3].feature_id"
    require_id("resource_id", None, required=False)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_require_finite_rejects(value):
    with pytest.raises(InvalidRequestError, match="^value must be a finite number$"):
        require_finite("value", value)


@pytest.mark.parametrize("value", [0.0, -5.0, 1e300])
def test_require_finite_accepts(value):
    require_finite("value", value)
