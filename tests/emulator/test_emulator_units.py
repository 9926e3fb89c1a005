"""In-process units: builders, snapshots, the demo scenario, time format, faults."""

from __future__ import annotations

import json

import pytest

from stigg_emulator import (
    DEMO_SCENARIO, FIXED_UPDATED_AT, SnapshotError, credit, customer, feature, snapshot,
)
from stigg_emulator.faults import Fault, FaultPlan
from stigg_emulator.scenario import ScenarioStore
from stigg_emulator.timeutil import iso_ms, parse_iso_ms


def test_feature_defaults_match_the_vectors():
    item = feature("sso")
    assert item["__typename"] == "FeatureEntitlement"
    assert (item["isGranted"], item["accessDeniedReason"], item["usageLimit"],
            item["hasUnlimitedUsage"], item["hasSoftLimit"], item["currentUsage"],
            item["enumValues"], item["validUntil"], item["resetPeriod"]) == (
        True, None, None, False, False, None, None, None, None)
    assert item["entitlementUpdatedAt"] == FIXED_UPDATED_AT
    assert item["feature"]["refId"] == "sso"
    assert (item["feature"]["featureType"], item["feature"]["meterType"]) == ("BOOLEAN", "None")


def test_feature_overrides_and_null_meter_type():
    item = feature("seats", "NUMBER", None, usageLimit=7.9, feature={"displayName": "Seats"})
    assert item["usageLimit"] == 7.9
    assert item["feature"]["meterType"] is None
    assert item["feature"]["displayName"] == "Seats"
    assert item["feature"]["refId"] == "seats"
    with pytest.raises(ValueError, match="usage_limit"):
        feature("x", usage_limit=1)


def test_credit_defaults():
    item = credit("usd", usageLimit=10)
    assert item["__typename"] == "CreditEntitlement"
    assert item["currency"]["currencyId"] == "usd"
    assert item["usageLimit"] == 10
    with pytest.raises(ValueError):
        credit("usd", enumValues=[])


def test_demo_scenario_covers_every_kind():
    with open(DEMO_SCENARIO, encoding="utf-8") as handle:
        data = json.load(handle)
    store = ScenarioStore()
    store.load(data)
    assert store.find_feature("acme", None, "sso")["feature"]["featureType"] == "BOOLEAN"
    assert store.find_feature("acme", None, "seats")["usageLimit"] == 25
    api_calls = store.find_feature("acme", None, "api-calls")
    assert (api_calls["usageLimit"], api_calls["currentUsage"], api_calls["resetPeriod"]) == (
        100, 40, "MONTH")
    storage = store.find_feature("acme", None, "storage-gb")
    assert (storage["feature"]["meterType"], storage["hasSoftLimit"]) == ("Fluctuating", True)
    assert store.find_feature("acme", None, "region")["enumValues"] == ["eu", "us"]
    wallet = store.find_credit("acme", None, "usd-credits")
    assert (wallet["usageLimit"], wallet["currentUsage"]) == (500, 120)
    assert store.has("acme", "workspace-1")
    assert store.state("ghost")["accessDeniedReason"] == "CustomerNotFound"
    assert store.state("trial-co") == {"accessDeniedReason": "NoActiveSubscription",
                                       "entitlementsV2": []}


@pytest.mark.parametrize("bad", [
    {"customers": []},
    {"format": 1, "customers": {}},
    {"format": 1, "customers": [{"resourceId": None, "entitlementsState": {}}]},
    {"format": 1, "customers": [customer("a", []), customer("a", [])]},
    {"format": 1, "customers": [customer("a", [{"isGranted": True}])]},
])
def test_bad_snapshots_are_rejected(bad):
    with pytest.raises(SnapshotError):
        ScenarioStore().load(bad)


def test_store_round_trip_and_listeners():
    store = ScenarioStore()
    changes = []
    store.add_listener(changes.append)
    store.load(snapshot(customer("a", [feature("sso")], resource_id="")))
    store.set("b", [feature("x")], resource_id="r")
    assert store.remove("b", "r") and not store.remove("b", "r")
    assert store.dump() == snapshot(customer("a", [feature("sso")]))
    assert [c.kind for c in changes] == ["reloaded", "entitlements", "removed"]


def test_iso_ms_round_trip():
    assert iso_ms(1752161400000) == "2025-07-10T15:30:00.000Z"
    assert iso_ms(1752161400123) == "2025-07-10T15:30:00.123Z"
    assert parse_iso_ms("2025-07-10T15:30:00Z") == 1752161400000


def test_fault_plan_counts_and_write_only_mode():
    plan = FaultPlan()
    plan.set(Fault("apply_then_drop", count=1))
    assert plan.take("edge", frozenset({"entitlementsState"})) is None
    assert plan.take("graphql", frozenset({"sdkConfiguration"})) is None
    assert plan.take("graphql", frozenset({"reportUsage"})).mode == "apply_then_drop"
    assert plan.take("graphql", frozenset({"reportUsage"})) is None
