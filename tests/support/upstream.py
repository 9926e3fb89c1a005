"""Upstream-shaped entitlement objects for scenarios, in the vectors' notation.

``feature("api-calls", "NUMBER", "Incremental", usageLimit=100)`` is the vectors'
``api-calls: NUMBER/Incremental, usageLimit=100``; omitted fields take the vectors'
defaults (vectors.md, common setup).
"""
from __future__ import annotations

from typing import Any

UPDATED_AT = "2025-07-10T15:00:00.000Z"


def feature(ref_id: str, feature_type: str = "BOOLEAN", meter_type: str | None = "None",
            **fields: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "__typename": "FeatureEntitlement",
        "isGranted": True,
        "accessDeniedReason": None,
        "usageLimit": None,
        "hasUnlimitedUsage": False,
        "hasSoftLimit": False,
        "currentUsage": None,
        "enumValues": None,
        "validUntil": None,
        "entitlementUpdatedAt": UPDATED_AT,
        "usageUpdatedAt": UPDATED_AT,
        "resetPeriod": None,
        "usagePeriodAnchor": None,
        "usagePeriodStart": None,
        "usagePeriodEnd": None,
        "creditRate": None,
        "resetPeriodConfiguration": None,
        "feature": {
            "refId": ref_id,
            "featureType": feature_type,
            "meterType": meter_type,
            "featureUnits": None,
            "featureUnitsPlural": None,
            "displayName": ref_id,
            "description": None,
        },
    }
    item.update(fields)
    return item


def credit(currency_id: str, **fields: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "__typename": "CreditEntitlement",
        "isGranted": True,
        "accessDeniedReason": None,
        "usageLimit": 0,
        "currentUsage": 0,
        "hasSoftLimit": False,
        "usageUpdatedAt": UPDATED_AT,
        "entitlementUpdatedAt": UPDATED_AT,
        "usagePeriodEnd": None,
        "validUntil": None,
        "currency": {
            "currencyId": currency_id,
            "displayName": currency_id,
            "description": None,
            "unitSingular": "credit",
            "unitPlural": "credits",
            "additionalMetaData": None,
        },
    }
    item.update(fields)
    return item


API_CALLS_V2 = dict(
    usageLimit=100, currentUsage=95, resetPeriod="MONTH",
    usagePeriodAnchor="2025-01-01T00:00:00.000Z",
    usagePeriodStart="2025-07-01T00:00:00.000Z",
    usagePeriodEnd="2025-08-01T00:00:00.000Z",
)


def entitlement_reads(emulator, customer_id: str | None = None) -> int:
    """Upstream entitlement reads (Edge and GraphQL ``GetEntitlementsState``), ignoring
    the start-up key check and writes."""
    return emulator.count(kind="edge", customer_id=customer_id) + emulator.count(
        kind="graphql", operation="GetEntitlementsState", customer_id=customer_id)
