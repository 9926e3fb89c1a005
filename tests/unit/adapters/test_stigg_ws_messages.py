"""Subscription payloads become the right feed events; unusable ones are ignored."""
from __future__ import annotations

from adapters.outbound.stigg_ws import WsRealtimeUpdates, WsTiming
from adapters.outbound.stigg_ws_messages import read_next_payload
from domain.model.identifiers import CustomerKey
from domain.model.realtime import EntitlementsUpdated, PackagePublished, UsageUpdated
from domain.model.reports import UsageTarget
from ports.telemetry import NullTelemetry
from support.upstream import feature
from tests.fakes.clock import FixedClock

NOW = 1_752_161_400_000


def test_entitlements_update_replaces_the_set():
    event = read_next_payload({"data": {"entitlementsUpdatedV2": {
        "customerId": "acme", "resourceId": "ws-1", "accessDeniedReason": None,
        "entitlements": [feature("sso")]}}}, NOW)
    assert isinstance(event, EntitlementsUpdated) and not event.purge
    assert event.entitlements.key == CustomerKey("acme", "ws-1")
    assert event.entitlements.feature("sso") is not None


def test_empty_list_and_null_reason_is_a_purge():
    event = read_next_payload({"data": {"entitlementsUpdatedV2": {
        "customerId": "acme", "resourceId": None, "accessDeniedReason": None, "entitlements": []}}}, NOW)
    assert isinstance(event, EntitlementsUpdated) and event.purge


def test_empty_list_with_a_reason_is_not_a_purge():
    event = read_next_payload({"data": {"entitlementsUpdatedV2": {
        "customerId": "acme", "accessDeniedReason": "CustomerNotFound", "entitlements": []}}}, NOW)
    assert isinstance(event, EntitlementsUpdated) and not event.purge


def test_usage_update_is_absolute_with_its_timestamp():
    event = read_next_payload({"data": {"usageUpdatedV2": {
        "customerId": "acme", "resourceId": None,
        "entitlementReference": {"id": "usd", "type": "CREDIT"},
        "usage": {"currentUsage": 3, "usageUpdatedAt": "2025-07-10T15:29:00.000Z",
                  "usagePeriodStart": None, "usagePeriodEnd": "2025-08-01T00:00:00.000Z"}}}}, NOW)
    assert isinstance(event, UsageUpdated)
    assert (event.target, event.ref_id, event.usage.current_usage) == (UsageTarget.CREDIT, "usd", 3)
    assert event.usage.updated_at_ms == 1_752_161_340_000


def test_package_published_migration_type():
    assert read_next_payload({"data": {"packagePublished": {"migrationType": "ALL_CUSTOMERS"}}}, NOW) == \
        PackagePublished(all_customers=True)
    assert read_next_payload({"data": {"packagePublished": {"migrationType": "NEW_CUSTOMERS"}}}, NOW) == \
        PackagePublished(all_customers=False)


def test_payloads_with_errors_or_without_data_are_ignored():
    assert read_next_payload({"errors": [{"message": "x"}], "data": None}, NOW) is None
    assert read_next_payload({}, NOW) is None
    assert read_next_payload("garbage", NOW) is None
    assert read_next_payload({"data": {"usageUpdatedV2": {"customerId": ""}}}, NOW) is None


def test_backoff_is_capped_exponential_with_jitter():
    updates = WsRealtimeUpdates(ws_url="ws://x", api_key="k", instance_id="i", user_agent="u",
                                clock=FixedClock(), telemetry=NullTelemetry(),
                                timing=WsTiming(backoff_initial_s=1, backoff_max_s=30),
                                uniform=lambda low, high: high)
    assert [updates._backoff(n) for n in range(0, 8)] == [1, 2, 3, 5, 9, 17, 31, 31]
