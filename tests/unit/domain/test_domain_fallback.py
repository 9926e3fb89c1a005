"""Fallback values: int32 conversion, precedence (§9.1), building (§9.2), kind (§9.3),
and the global fallback list (§9.5, vector V14)."""
from __future__ import annotations

import math

import pytest

from domain.model.answers import credit_fallback, feature_fallback
from domain.model.decide import fallback_list
from domain.model.entitlement import Usage
from domain.model.fallback import (
    EMPTY_FALLBACK_TABLE,
    INT32_MAX,
    INT32_MIN,
    NO_FALLBACK,
    FallbackTable,
    FallbackValues,
    fallback_kind,
    to_int32,
)
from domain.model.kinds import AccessDeniedReason as R
from domain.model.kinds import FeatureKind as K
from domain.model.kinds import FeatureType

# --- to_int32 ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "value, expected",
    [
        (25, 25),
        (25.0, 25),
        (7.9, 7),
        (7.0000001, 7),
        (-7.9, -8),
        (0.5, 0),
        (-0.5, -1),
        (3e10, INT32_MAX),
        (2_147_483_647, INT32_MAX),
        (2_147_483_647.9, INT32_MAX),
        (2_147_483_648, INT32_MAX),
        (-3e10, INT32_MIN),
        (-2_147_483_648, INT32_MIN),
        (-2_147_483_649, INT32_MIN),
        (1e308, INT32_MAX),
        (-1e308, INT32_MIN),
        (math.inf, INT32_MAX),
        (-math.inf, INT32_MIN),
        (math.nan, None),
        (None, None),
    ],
    ids=["int", "whole-float", "7.9", "tiny-fraction", "negative-fraction", "half",
         "negative-half", "3e10", "max", "max-fraction", "max-plus-1", "negative-huge", "min",
         "min-minus-1", "1e308", "-1e308", "inf", "-inf", "nan", "none"],
)
def test_to_int32_floors_then_clamps(value, expected):
    assert to_int32(value) == expected


# --- §9.1 precedence -------------------------------------------------------------------------

GLOBAL = FallbackTable({"exports": FallbackValues(has_access=True, usage_limit=500)})


def test_per_request_fallback_replaces_the_global_entry_whole():
    per_request = FallbackValues(has_access=False)
    resolved = GLOBAL.resolve("exports", per_request)
    assert resolved is per_request
    assert resolved.usage_limit is None


def test_global_entry_used_without_per_request_fallback():
    assert GLOBAL.resolve("exports", None) == FallbackValues(has_access=True, usage_limit=500)


def test_no_entry_gives_defaults():
    assert GLOBAL.resolve("reports", None) is NO_FALLBACK
    assert EMPTY_FALLBACK_TABLE.resolve("exports", None) == FallbackValues()
    assert NO_FALLBACK.has_access is False


def test_empty_per_request_fallback_still_replaces_the_global_entry():
    assert GLOBAL.resolve("exports", FallbackValues()) == FallbackValues()


# --- §9.3 kind ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "values, requested_usage, requested_values, expected",
    [
        (FallbackValues(), None, (), K.BOOLEAN),
        (FallbackValues(has_access=True), None, (), K.BOOLEAN),
        (FallbackValues(), 0.0, (), K.METERED),
        (FallbackValues(), 3, ("eu",), K.METERED),
        (FallbackValues(enum_values=("eu",)), 3, (), K.METERED),
        (FallbackValues(), None, ("eu",), K.ENUM),
        (FallbackValues(value=10), None, ("eu",), K.ENUM),
        (FallbackValues(enum_values=("eu",)), None, (), K.ENUM),
        (FallbackValues(enum_values=()), None, (), K.BOOLEAN),
        (FallbackValues(enum_values=("eu",), value=3, usage_limit=5), None, (), K.ENUM),
        (FallbackValues(value=10), None, (), K.NUMERIC),
        (FallbackValues(value=0), None, (), K.NUMERIC),
        (FallbackValues(value=10, usage_limit=5), None, (), K.NUMERIC),
        (FallbackValues(usage_limit=500), None, (), K.METERED),
        (FallbackValues(usage_limit=0), None, (), K.METERED),
        (FallbackValues(is_unlimited=True), None, (), K.METERED),
        (FallbackValues(is_unlimited=False), None, (), K.METERED),
    ],
    ids=["defaults", "access-only", "requested-usage-zero", "usage-beats-values",
         "usage-beats-content", "requested-values", "values-beat-content", "enum-content",
         "empty-enum-content", "enum-beats-value-and-limit", "value", "value-zero",
         "value-beats-limit", "usage-limit", "usage-limit-zero", "unlimited",
         "unlimited-false-is-present"],
)
def test_fallback_kind(values, requested_usage, requested_values, expected):
    assert fallback_kind(values, requested_usage=requested_usage,
                         requested_values=requested_values) is expected


# --- §9.2 building -------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", list(K), ids=lambda k: k.value)
@pytest.mark.parametrize("reason", [R.UNKNOWN, R.FEATURE_TYPE_MISMATCH,
                                    R.NO_FEATURE_ENTITLEMENT_IN_SUBSCRIPTION])
def test_fallback_flags_and_reason_invariant(kind, reason):
    denied = feature_fallback(kind, reason, FallbackValues(), None, ())
    assert (denied.is_fallback, denied.has_access, denied.reason) == (True, False, reason)
    granted = feature_fallback(kind, reason, FallbackValues(has_access=True), None, ())
    assert (granted.is_fallback, granted.has_access, granted.reason) == (True, True, None)
    assert denied.data.feature is None and granted.data.feature is None
    assert denied.data.kind is kind


def test_numeric_fallback_data():
    answer = feature_fallback(K.NUMERIC, R.UNKNOWN, FallbackValues(True, value=7.9,
                              is_unlimited=True, usage_limit=99), None, ())
    assert (answer.data.value, answer.data.is_unlimited) == (7, True)
    assert answer.data.usage_limit is None


def test_numeric_fallback_defaults():
    answer = feature_fallback(K.NUMERIC, R.UNKNOWN, FallbackValues(), None, ())
    assert (answer.data.value, answer.data.is_unlimited) == (None, False)


@pytest.mark.parametrize("value, expected", [(3e10, INT32_MAX), (-3e10, INT32_MIN)])
def test_numeric_fallback_value_clamped(value, expected):
    assert feature_fallback(K.NUMERIC, R.UNKNOWN, FallbackValues(value=value), None,
                            ()).data.value == expected


@pytest.mark.parametrize(
    "values, requested, limit, unlimited, echoed",
    [
        (FallbackValues(True, usage_limit=500), 2, 500, False, 2),
        (FallbackValues(False), None, None, False, 0),
        (FallbackValues(True, is_unlimited=True), 7.5, None, True, 7.5),
        (FallbackValues(True, usage_limit=500, value=3, enum_values=("x",)), math.nan, 500,
         False, 0),
    ],
    ids=["v12-exports", "v12-reports", "v13-unlimited", "foreign-fields-ignored-nan-echo-0"],
)
def test_metered_fallback_data(values, requested, limit, unlimited, echoed):
    answer = feature_fallback(K.METERED, R.UNKNOWN, values, requested, ())
    data = answer.data
    assert (data.usage_limit, data.is_unlimited, data.has_soft_limit) == (limit, unlimited, False)
    assert data.usage == Usage()
    assert data.usage.current_usage == 0
    assert answer.requested_usage == echoed
    assert data.value is None and data.enum_values == ()


@pytest.mark.parametrize(
    "values, expected",
    [(FallbackValues(True, enum_values=("eu",)), ("eu",)), (FallbackValues(True), ())],
    ids=["values", "none"],
)
def test_enum_fallback_data_and_echo(values, expected):
    answer = feature_fallback(K.ENUM, R.UNKNOWN, values, None, ("eu", "apac"))
    assert answer.data.enum_values == expected
    assert answer.requested_values == ("eu", "apac")


def test_boolean_fallback_ignores_foreign_fields():
    answer = feature_fallback(K.BOOLEAN, R.UNKNOWN, FallbackValues(True, value=3, usage_limit=5,
                              is_unlimited=True, enum_values=("x",)), None, ())
    data = answer.data
    assert (data.usage_limit, data.value, data.is_unlimited, data.usage, data.enum_values) == (
        None, None, False, None, ())


@pytest.mark.parametrize(
    "values, has_access, reason, limit",
    [
        (None, False, R.UNKNOWN, 0.0),
        (FallbackValues(), False, R.UNKNOWN, 0.0),
        (FallbackValues(True), True, None, 0.0),
        (FallbackValues(True, usage_limit=250), True, None, 250),
        (FallbackValues(False, usage_limit=250, value=9), False, R.UNKNOWN, 250),
    ],
    ids=["no-fallback", "empty", "granted", "granted-with-limit", "denied-with-limit"],
)
def test_credit_fallback(values, has_access, reason, limit):
    answer = credit_fallback("cred", R.UNKNOWN, values)
    assert (answer.is_fallback, answer.has_access, answer.reason) == (True, has_access, reason)
    assert answer.currency.currency_id == "cred"
    assert answer.currency.display_name == "" and answer.currency.description is None
    assert (answer.usage_limit, answer.current_usage, answer.remaining) == (limit, 0.0, limit)
    assert answer.has_soft_limit is False and answer.usage_period_end_ms is None


# --- §9.5 the global fallback list (V14) ----------------------------------------------------------

V14 = FallbackTable(
    {
        "seats": FallbackValues(has_access=True, value=10),
        "exports": FallbackValues(has_access=True, usage_limit=500),
        "beta-ui": FallbackValues(has_access=False),
        "region": FallbackValues(has_access=True, enum_values=("eu",)),
    }
)


def test_v14_fallback_list_order_kinds_and_data():
    state = fallback_list(V14)
    assert state.reason is None and state.is_fallback is True
    rows = [(i.data.kind, i.data.feature.id, i.data.feature.feature_type, i.has_access, i.reason,
             i.is_fallback) for i in state.items]
    assert rows == [
        (K.NUMERIC, "seats", FeatureType.NUMBER, True, None, True),
        (K.METERED, "exports", FeatureType.NUMBER, True, None, True),
        (K.BOOLEAN, "beta-ui", FeatureType.BOOLEAN, False, R.UNKNOWN, True),
        (K.ENUM, "region", FeatureType.ENUM, True, None, True),
    ]
    seats, exports, _, region = state.items
    assert seats.data.value == 10
    assert exports.data.usage_limit == 500 and exports.data.usage.current_usage == 0
    assert region.data.enum_values == ("eu",)


def test_fallback_list_keeps_configuration_order():
    keys = ["z", "a", "m", "b"]
    table = FallbackTable({k: FallbackValues() for k in keys})
    assert [i.data.feature.id for i in fallback_list(table).items] == keys


def test_fallback_list_is_empty_without_configuration():
    state = fallback_list(EMPTY_FALLBACK_TABLE)
    assert state.items == () and state.reason is None
