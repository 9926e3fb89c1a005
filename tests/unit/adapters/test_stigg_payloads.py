"""The tolerant reader: upstream JSON -> domain (upstream-api.md §3.4, decision-rules.md §1)."""
from __future__ import annotations

import logging
from typing import Any

import pytest

from adapters.outbound.stigg_payloads import (
    entitlements_state_from, iso_utc, read_entitlement_set, read_entitlements_state,
    read_usage_ack, set_timestamp_ms, time_ms,
)
from domain.model.entitlement import CreditRate, Usage
from domain.model.identifiers import CustomerKey
from domain.model.kinds import AccessDeniedReason, FeatureType, MeterType, ResetPeriod
from ports.errors import UpstreamRejectedError

NOW = 1_752_161_400_000  # 2025-07-10T15:30:00Z
KEY = CustomerKey("customer-1", "site-1")
T1 = "2025-07-10T15:00:00.000Z"
T1_MS = 1_752_159_600_000


def feature(ref_id: str = "api-calls", **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "__typename": "FeatureEntitlement", "isGranted": True, "accessDeniedReason": None,
        "usageLimit": 100, "hasUnlimitedUsage": False, "hasSoftLimit": False,
        "currentUsage": 7, "enumValues": None, "entitlementUpdatedAt": T1, "usageUpdatedAt": T1,
        "usagePeriodAnchor": "2025-01-01T00:00:00Z", "usagePeriodStart": "2025-07-01T00:00:00Z",
        "usagePeriodEnd": "2025-08-01T00:00:00Z", "resetPeriod": "MONTH", "validUntil": None,
        "creditRate": None, "resetPeriodConfiguration": None,
        "feature": {"refId": ref_id, "featureType": "NUMBER", "meterType": "Incremental",
                    "featureUnits": "call", "featureUnitsPlural": "calls",
                    "displayName": "API calls", "description": None},
    }
    entry.update(fields)
    return entry


def credit(currency_id: str = "usd-credits", **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "__typename": "CreditEntitlement", "isGranted": True, "accessDeniedReason": None,
        "usageLimit": 500, "currentUsage": 20, "hasSoftLimit": False, "usageUpdatedAt": T1,
        "entitlementUpdatedAt": T1, "usagePeriodEnd": "2025-08-01T00:00:00Z", "validUntil": None,
        "currency": {"currencyId": currency_id, "displayName": "USD credits", "description": "d",
                     "unitSingular": "credit", "unitPlural": "credits",
                     "additionalMetaData": {"tier": "gold"}},
    }
    entry.update(fields)
    return entry


def read(*entries: dict[str, Any], reason: str | None = None, key: CustomerKey = KEY):
    return read_entitlements_state(key, {"accessDeniedReason": reason, "entitlementsV2": list(entries)}, NOW)


def test_feature_entitlement_fields_map_to_the_domain() -> None:
    (e,) = read(feature(creditRate={"amount": 2.5, "currencyId": "usd-credits"},
                        resetPeriodConfiguration={"monthlyAccordingTo": "SubscriptionStart"})).features
    assert e.feature.id == "api-calls"
    assert e.feature.feature_type is FeatureType.NUMBER
    assert e.feature.meter_type is MeterType.INCREMENTAL
    assert (e.feature.units, e.feature.units_plural, e.feature.display_name) == ("call", "calls", "API calls")
    assert e.usage_limit == 100.0 and e.has_unlimited_usage is False and e.has_soft_limit is False
    assert e.denial_reason is None
    assert e.credit_rate == CreditRate(2.5, "usd-credits")
    assert e.reset_period is ResetPeriod.MONTH
    assert e.usage_period_anchor_ms == 1_735_689_600_000
    assert e.reset_period_configuration == {"monthlyAccordingTo": "SubscriptionStart"}
    assert e.usage == Usage(7.0, 1_751_328_000_000, 1_754_006_400_000, T1_MS)


def test_credit_entitlement_fields_map_to_the_domain() -> None:
    (c,) = read(credit()).credits
    assert c.currency.currency_id == "usd-credits"
    assert (c.currency.display_name, c.currency.description) == ("USD credits", "d")
    assert (c.currency.unit_singular, c.currency.unit_plural) == ("credit", "credits")
    assert c.currency.additional_meta_data == {"tier": "gold"}
    assert c.usage_limit == 500.0 and c.has_soft_limit is False and c.denial_reason is None
    assert c.usage == Usage(20.0, None, 1_754_006_400_000, T1_MS)


def test_feature_null_rules() -> None:
    (e,) = read(feature(hasSoftLimit=None, enumValues=None, currentUsage=None, usageLimit=None,
                        usageUpdatedAt=None, usagePeriodStart=None, usagePeriodEnd=None,
                        resetPeriod=None, creditRate=None, validUntil=None)).features
    assert e.has_soft_limit is False
    assert e.enum_values == ()
    assert e.usage_limit is None
    assert e.usage == Usage(0.0, None, None, 0)
    assert e.reset_period is None and e.credit_rate is None and e.valid_until_ms is None


def test_absent_optional_fields_read_as_their_null_rule() -> None:
    minimal = {"__typename": "FeatureEntitlement", "isGranted": True,
               "feature": {"refId": "flag", "featureType": "BOOLEAN"}}
    (e,) = read(minimal).features
    assert (e.has_soft_limit, e.has_unlimited_usage, e.enum_values) == (False, False, ())
    assert e.usage == Usage() and e.feature.meter_type is None and e.feature.display_name is None


def test_credit_null_rules() -> None:
    (c,) = read(credit(usageLimit=None, currentUsage=None, hasSoftLimit=None, usageUpdatedAt=None,
                       currency={"currencyId": "c", "displayName": None})).credits
    assert c.usage_limit == 0.0 and c.has_soft_limit is False
    assert c.usage == Usage(0.0, None, 1_754_006_400_000, 0)
    assert c.currency.display_name == "" and c.currency.additional_meta_data is None


def test_enum_values_are_kept_in_order() -> None:
    (e,) = read(feature(enumValues=["eu", "us"])).features
    assert e.enum_values == ("eu", "us")
    (e,) = read(feature(enumValues="eu")).features
    assert e.enum_values == ()


@pytest.mark.parametrize("granted,reason,expected", [
    (False, "BudgetExceeded", AccessDeniedReason.BUDGET_EXCEEDED),
    (False, "Revoked", AccessDeniedReason.REVOKED),
    (False, None, AccessDeniedReason.UNKNOWN),
    (False, "SomethingNew", AccessDeniedReason.UNKNOWN),
    (True, "BudgetExceeded", None),
    (True, None, None),
    (None, None, None),
    (None, "Revoked", AccessDeniedReason.REVOKED),
])
def test_is_granted_decides_the_denial_reason(granted: Any, reason: Any, expected: Any) -> None:
    (e,) = read(feature(isGranted=granted, accessDeniedReason=reason)).features
    (c,) = read(credit(isGranted=granted, accessDeniedReason=reason)).credits
    assert e.denial_reason is expected and c.denial_reason is expected


@pytest.mark.parametrize("field", ["validUntil", "usagePeriodAnchor", "usagePeriodEnd", "usageUpdatedAt"])
def test_an_unparseable_date_counts_as_absent_and_is_logged(field: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        (e,) = read(feature(**{field: "next tuesday"})).features
    assert {
        "validUntil": e.valid_until_ms, "usagePeriodAnchor": e.usage_period_anchor_ms,
        "usagePeriodEnd": e.usage.period_end_ms,
    }.get(field, e.usage.updated_at_ms) in (None, 0)
    assert any(getattr(r, "field", None) == field for r in caplog.records)


def test_unknown_typename_is_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        result = read({"__typename": "FutureEntitlement", "entitlementUpdatedAt": T1}, feature(), credit())
    assert [e.feature.id for e in result.features] == ["api-calls"]
    assert len(result.credits) == 1
    assert any("unknown entitlement type" in r.message for r in caplog.records)


@pytest.mark.parametrize("bad_feature", [None, {}, {"refId": "x"}, {"refId": "", "featureType": "NUMBER"},
                                         {"refId": "x", "featureType": "QUANTUM"}])
def test_an_entitlement_without_a_usable_feature_is_skipped(bad_feature: Any) -> None:
    entries = [feature(), feature("other")]
    entries[0]["feature"] = bad_feature
    assert [e.feature.id for e in read(*entries).features] == ["other"]


def test_a_credit_without_a_currency_id_is_skipped() -> None:
    assert read(credit(currency=None), credit(currency={"displayName": "x"})).credits == ()


def test_unknown_enum_values_and_fields_are_ignored() -> None:
    entry = feature(resetPeriod="FORTNIGHT", brandNew={"x": 1})
    entry["feature"] = {**entry["feature"], "meterType": "Quantum", "id": "uuid-ignored"}
    (e,) = read(entry).features
    assert e.reset_period is None and e.feature.meter_type is None and e.feature.id == "api-calls"


def test_non_numbers_are_not_read_as_numbers() -> None:
    (e,) = read(feature(usageLimit="100", currentUsage=True, hasUnlimitedUsage="yes")).features
    assert e.usage_limit is None and e.usage.current_usage == 0.0 and e.has_unlimited_usage is False


def test_duplicates_are_kept_as_given_and_the_first_wins(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        result = read(feature(usageLimit=1), feature(usageLimit=2))
    assert [e.usage_limit for e in result.features] == [1.0, 2.0]
    assert result.feature("api-calls").usage_limit == 1.0
    assert any("duplicate" in r.message for r in caplog.records)


def test_set_timestamp_is_the_first_valid_entitlement_updated_at_in_list_order() -> None:
    later = "2025-07-10T15:10:00.000Z"
    assert read(feature(entitlementUpdatedAt=None), credit(entitlementUpdatedAt="bad"),
                feature("b", entitlementUpdatedAt=later), feature("c")).timestamp_ms == T1_MS + 600_000


def test_set_timestamp_counts_entries_the_reader_skips() -> None:
    skipped = {"__typename": "FutureEntitlement", "entitlementUpdatedAt": "2020-01-01T00:00:00Z"}
    assert read(skipped, feature()).timestamp_ms == 1_577_836_800_000


def test_set_timestamp_is_zero_for_an_empty_list_and_now_when_none_is_valid() -> None:
    assert read().timestamp_ms == 0
    assert read(feature(entitlementUpdatedAt=None), credit(entitlementUpdatedAt="x")).timestamp_ms == NOW
    assert set_timestamp_ms([], NOW) == 0


def test_customer_not_found_is_in_band() -> None:
    result = read(reason="CustomerNotFound", key=CustomerKey("ghost"))
    assert result.key == CustomerKey("ghost")
    assert result.customer_reason is AccessDeniedReason.CUSTOMER_NOT_FOUND
    assert result.features == () and result.credits == () and result.timestamp_ms == 0


@pytest.mark.parametrize("reason,expected", [
    ("NoActiveSubscription", AccessDeniedReason.NO_ACTIVE_SUBSCRIPTION),
    ("CustomerIsArchived", AccessDeniedReason.CUSTOMER_IS_ARCHIVED),
    (None, None),
])
def test_customer_level_reason(reason: Any, expected: Any) -> None:
    assert read(feature(), reason=reason).customer_reason is expected


def test_the_set_key_is_the_requested_key_and_lists_keep_order() -> None:
    result = read(credit("b"), feature("x"), credit("a"), feature("y"))
    assert result.key == KEY
    assert [e.feature.id for e in result.features] == ["x", "y"]
    assert [c.currency.currency_id for c in result.credits] == ["b", "a"]


def test_a_null_list_reads_as_empty_and_the_reader_is_shared_with_realtime() -> None:
    assert read_entitlement_set(KEY, None, None, NOW).features == ()
    update = {"customerId": "customer-1", "resourceId": "site-1", "accessDeniedReason": None,
              "entitlements": [feature()]}
    result = read_entitlement_set(KEY, update["accessDeniedReason"], update["entitlements"], NOW)
    assert result.feature("api-calls") is not None and result.timestamp_ms == T1_MS


def test_a_data_object_without_entitlements_state_is_rejected() -> None:
    with pytest.raises(UpstreamRejectedError):
        entitlements_state_from({"entitlementsState": None}, KEY, NOW)
    assert entitlements_state_from({"entitlementsState": {"entitlementsV2": []}}, KEY, NOW).key == KEY


@pytest.mark.parametrize("value,expected", [
    ("2025-07-10T15:00:00.000Z", T1_MS),
    ("2025-07-10T15:00:00Z", T1_MS),
    ("2025-07-10T17:00:00.000+02:00", T1_MS),
    ("2025-07-10T15:00:00.123456", T1_MS + 123),
    ("2025-07-10", 1_752_105_600_000),
    (T1_MS, T1_MS),
    (None, None),
    ("", None),
    ("yesterday", None),
    (True, None),
    (float("nan"), None),
    ({"iso": T1}, None),
])
def test_time_ms(value: Any, expected: int | None) -> None:
    assert time_ms(value, "f") == expected


@pytest.mark.parametrize("ms,expected", [
    (T1_MS, "2025-07-10T15:00:00.000Z"),
    (T1_MS + 7, "2025-07-10T15:00:00.007Z"),
    (0, "1970-01-01T00:00:00.000Z"),
])
def test_iso_utc_has_milliseconds_and_z(ms: int, expected: str) -> None:
    assert iso_utc(ms) == expected
    assert time_ms(expected, "f") == ms


def test_usage_ack_from_a_measurement() -> None:
    ack = read_usage_ack({
        "id": "m-1", "featureId": "api-calls", "customerId": "c-9", "resourceId": "r-9",
        "currentUsage": 12, "usagePeriodStart": "2025-07-01T00:00:00Z",
        "usagePeriodEnd": "2025-08-01T00:00:00Z", "nextResetDate": "2025-08-01T00:00:00Z",
        "timestamp": T1,
        "credit": {"currencyId": "usd", "currentUsage": 3, "usagePeriodEnd": None,
                   "timestamp": T1, "consumed": 1},
    }, KEY, "sent-feature")
    assert ack.measurement_id == "m-1" and ack.key == CustomerKey("c-9", "r-9")
    assert ack.feature_id == "api-calls" and ack.current_usage == 12.0
    assert (ack.usage_period_start_ms, ack.usage_period_end_ms) == (1_751_328_000_000, 1_754_006_400_000)
    assert ack.timestamp_ms == T1_MS
    assert ack.credit is not None
    assert (ack.credit.currency_id, ack.credit.current_usage) == ("usd", 3.0)
    assert (ack.credit.usage_period_end_ms, ack.credit.timestamp_ms) == (None, T1_MS)


def test_usage_ack_with_nulls_falls_back_to_the_request_item() -> None:
    ack = read_usage_ack({"id": "m", "currentUsage": None, "resourceId": None, "credit": None}, KEY, "f")
    assert ack.key == KEY and ack.feature_id == "f"
    assert ack.current_usage is None and ack.credit is None and ack.timestamp_ms is None
    ack = read_usage_ack({"id": "m", "customerId": "c", "resourceId": None, "featureId": "f"}, KEY, "f")
    assert ack.key == CustomerKey("c")


@pytest.mark.parametrize("fields,check", [
    # unhashable JSON where an enum is expected: ignored like an unknown value
    ({"resetPeriod": ["MONTH"]}, lambda e: e.reset_period is None),
    ({"resetPeriod": {"v": 1}}, lambda e: e.reset_period is None),
    ({"creditRate": ["x"]}, lambda e: e.credit_rate is None),
    ({"creditRate": {"amount": 2}}, lambda e: e.credit_rate is None),
    ({"creditRate": {"amount": "2", "currencyId": "c"}}, lambda e: e.credit_rate is None),
    ({"enumValues": ["eu", 3, None, "us"]}, lambda e: e.enum_values == ("eu", "us")),
    ({"resetPeriodConfiguration": ["x"]}, lambda e: e.reset_period_configuration is None),
    ({"accessDeniedReason": 7, "isGranted": False},
     lambda e: e.denial_reason is AccessDeniedReason.UNKNOWN),
    ({"accessDeniedReason": ["Revoked"], "isGranted": None}, lambda e: e.denial_reason is None),
    ({"usageLimit": float("inf"), "currentUsage": 10**400}, lambda e: e.usage_limit is None
     and e.usage.current_usage == 0.0),
])
def test_odd_json_shapes_read_by_the_null_rules(fields: dict[str, Any], check: Any) -> None:
    (e,) = read(feature(**fields)).features
    assert check(e)


@pytest.mark.parametrize("raw", [{"refId": 5, "featureType": "NUMBER"},
                                 {"refId": "x", "featureType": ["NUMBER"]},
                                 {"refId": "x", "featureType": None}, "not an object"])
def test_a_feature_of_the_wrong_shape_is_skipped(raw: Any) -> None:
    assert read(feature(feature=raw), feature("other")).features[0].feature.id == "other"


def test_a_customer_level_reason_that_is_not_text_is_none() -> None:
    assert read(feature(), reason=5).customer_reason is None  # type: ignore[arg-type]
