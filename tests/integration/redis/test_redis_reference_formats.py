"""Values left by Stigg's own services are readable by content (caching-and-redis.md §3.3)."""
from __future__ import annotations

import json
import logging

import pytest

from adapters.outbound.redis_cache import MissReason
from domain.model.entitlement import CreditRate
from domain.model.identifiers import CustomerKey
from domain.model.kinds import AccessDeniedReason, FeatureType, MeterType, ResetPeriod
from tests.fakes.clock import epoch_ms

ACME = CustomerKey("acme")
K = "test-env:c_acme"

CURRENT = {
    # map keys are not part of the contract: any key must do
    "feature:api-calls": {
        "calculatedEntitlement": {
            "type": "FEATURE",
            "feature": {"id": "api-calls", "featureType": "NUMBER", "meterType": "Incremental",
                        "units": "call", "unitsPlural": "calls", "displayName": "API calls",
                        "description": "calls to the API", "unitTransformation": {"divide": 10}},
            "usageLimit": 1000, "hasUnlimitedUsage": False, "hasSoftLimit": None,
            "accessDeniedReason": None, "enumValues": None,
            "validUntil": "2026-01-01T00:00:00.000Z",
            "creditRate": {"amount": 2, "currencyId": "usd-credits"},
            "resetPeriod": "MONTH",
            "resetPeriodConfiguration": {"monthlyAccordingTo": "SubscriptionStart"},
            "usagePeriodAnchor": "2025-06-01T00:00:00Z",
        },
        "usageData": {"currentUsage": 999, "usagePeriodStart": 1, "usagePeriodEnd": 2},
    },
    "x": {
        "calculatedEntitlement": {
            "type": "CREDIT",
            "currency": {"currencyId": "usd-credits", "displayName": "USD credits",
                         "description": None, "unitSingular": "credit", "unitPlural": "credits",
                         "additionalMetaData": {"a": 1}},
            "usageLimit": 500, "hasSoftLimit": False, "accessDeniedReason": None,
            "validUntil": 1767225600000,
        },
        "usageData": {},
    },
    "anything at all": {
        "calculatedEntitlement": {
            "type": "FEATURE",
            "feature": {"id": "premium", "featureType": "BOOLEAN", "meterType": "None"},
            "hasUnlimitedUsage": False, "accessDeniedReason": "NoFeatureEntitlementInSubscription",
            "enumValues": [],
        },
        "usageData": None,
    },
}

LEGACY = {
    "seats": {
        "calculatedEntitlement": {
            "feature": {"id": "seats", "featureType": "NUMBER", "meterType": "Fluctuating",
                        "units": "seat", "unitsPlural": "seats"},
            "resourceId": None, "usageLimit": 10, "hasUnlimitedUsage": False,
            "hasSoftLimit": True, "accessDeniedReason": None, "enumValues": None,
            "validUntil": None, "creditRate": None,
        },
        "featureUsage": {"resetPeriod": "WEEK", "resetPeriodConfiguration": {"weeklyAccordingTo": "EveryMonday"},
                         "currentUsage": 4, "usagePeriodAnchor": "2025-07-07T00:00:00Z",
                         "usagePeriodStart": "2025-07-07T00:00:00Z",
                         "nextResetDate": "2025-07-14T00:00:00Z"},
    },
    "sso": {
        "calculatedEntitlement": {"feature": {"id": "sso", "featureType": "BOOLEAN", "meterType": None},
                                  "hasUnlimitedUsage": False},
        "featureUsage": None,
    },
}


async def _store(client, value, *, timestamp=b"1752150000000", usage=None, metadata=None):
    await client.set(K, json.dumps(value))
    await client.set(f"{K}#timestamp", timestamp)
    if metadata is not None:
        await client.set(f"{K}:metadata", json.dumps(metadata))
    for key, (data, stamp) in (usage or {}).items():
        await client.set(f"{K}:{key}", json.dumps(data))
        await client.set(f"{K}:{key}#timestamp", stamp)


async def test_current_reference_map_is_read_by_content(make_cache, client):
    await _store(client, CURRENT, metadata={"accessDeniedReason": "NoActiveSubscription"}, usage={
        "f_api-calls": ({"currentUsage": 12, "usagePeriodStart": 1751328000000,
                         "usagePeriodEnd": "2025-08-01T00:00:00Z"}, b"1752150000001"),
        "credit_usd-credits": ({"currentUsage": 40, "usagePeriodStart": None,
                                "usagePeriodEnd": None}, b"1752150000002"),
    })
    entry = await make_cache().get(ACME)
    assert entry is not None and entry.trusted
    got = entry.entitlements
    assert got.timestamp_ms == 1752150000000
    assert got.customer_reason is AccessDeniedReason.NO_ACTIVE_SUBSCRIPTION
    calls = got.feature("api-calls")
    assert calls.feature.feature_type is FeatureType.NUMBER
    assert calls.feature.meter_type is MeterType.INCREMENTAL
    assert calls.feature.display_name == "API calls"
    assert calls.usage_limit == 1000 and calls.has_soft_limit is False and calls.enum_values == ()
    assert calls.valid_until_ms == epoch_ms("2026-01-01T00:00:00Z")
    assert calls.credit_rate == CreditRate(2, "usd-credits")
    assert calls.reset_period is ResetPeriod.MONTH
    assert calls.usage_period_anchor_ms == epoch_ms("2025-06-01T00:00:00Z")
    # usage comes from the usage keys, never from usageData
    assert (calls.usage.current_usage, calls.usage.period_start_ms, calls.usage.period_end_ms,
            calls.usage.updated_at_ms) == (12, 1751328000000, epoch_ms("2025-08-01T00:00:00Z"), 1752150000001)
    wallet = got.credit("usd-credits")
    assert wallet.usage_limit == 500 and wallet.currency.additional_meta_data == {"a": 1}
    assert wallet.usage.current_usage == 40 and wallet.valid_until_ms == 1767225600000
    premium = got.feature("premium")
    assert premium.denial_reason is AccessDeniedReason.NO_FEATURE_ENTITLEMENT_IN_SUBSCRIPTION


async def test_legacy_reference_map_is_read_as_features(make_cache, client):
    await _store(client, LEGACY, usage={
        "f_seats": ({"currentUsage": 4, "usagePeriodStart": "2025-07-07T00:00:00Z",
                     "nextResetDate": "2025-07-14T00:00:00Z"}, b"1752150000000"),
    })
    got = (await make_cache().get(ACME)).entitlements
    assert got.customer_reason is None  # no metadata key: older writers
    seats = got.feature("seats")
    assert seats.feature.display_name == "seats"  # defaults to the id
    assert seats.feature.meter_type is MeterType.FLUCTUATING
    assert seats.reset_period is ResetPeriod.WEEK
    assert seats.reset_period_configuration == {"weeklyAccordingTo": "EveryMonday"}
    assert seats.usage_period_anchor_ms == epoch_ms("2025-07-07T00:00:00Z")
    assert seats.usage.period_end_ms == epoch_ms("2025-07-14T00:00:00Z")
    assert seats.usage.current_usage == 4 and seats.has_soft_limit
    assert got.feature("sso").feature.feature_type is FeatureType.BOOLEAN


async def test_reference_map_without_its_usage_keys_is_a_miss(make_cache, client):
    await _store(client, LEGACY)
    assert (await make_cache().read(ACME)).miss is MissReason.TORN_USAGE


async def test_unknown_format_version_is_a_logged_miss(make_cache, client, caplog):
    await _store(client, {"format": 2, "entitlements": []})
    with caplog.at_level(logging.WARNING, logger="sidecar.cache.redis"):
        read = await make_cache().read(ACME)
    assert read.miss is MissReason.UNKNOWN_FORMAT
    assert any("unknown format" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'{"format": 1}', b'{"a": 1}',
                                 b'{"a": {"featureUsage": {}}}', b"\xff\xfe"])
async def test_unreadable_values_are_misses(make_cache, client, raw):
    await client.set(K, raw)
    await client.set(f"{K}#timestamp", b"5")
    assert (await make_cache().read(ACME)).miss is MissReason.UNREADABLE


async def test_our_format_is_recognised_only_by_an_integer_format(make_cache, client):
    """A reference map whose key happens to be "format" is still a reference map."""
    value = {"format": LEGACY["sso"]}
    await _store(client, value)
    got = (await make_cache().get(ACME)).entitlements
    assert [f.feature.id for f in got.features] == ["sso"]
