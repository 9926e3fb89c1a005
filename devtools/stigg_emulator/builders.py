"""Terse builders for upstream-shaped scenario data, for tests and demos.

Every builder returns plain JSON-compatible dicts in the upstream GraphQL shape
(camelCase keys, DateTime values as ISO strings, ``__typename`` on union members),
ready to go into a snapshot (see :mod:`stigg_emulator.scenario`).

Defaults follow the behaviour vectors: ``isGranted=True``, ``accessDeniedReason=None``,
``usageLimit=None``, ``hasUnlimitedUsage=False``, ``hasSoftLimit=False``,
``currentUsage=None``, ``enumValues=None``, ``validUntil=None``, no reset or period
fields, and ``entitlementUpdatedAt=FIXED_UPDATED_AT``. Every field of the sidecar's
selection is present (null when unset), as a GraphQL server would answer.
"""

from __future__ import annotations

import uuid
from typing import Any

FIXED_UPDATED_AT = "2025-07-01T00:00:00.000Z"
"""The default ``entitlementUpdatedAt`` of built entitlements."""

_ID_NAMESPACE = uuid.UUID("6b0d3c59-8c2e-4f57-9a51-2f1f0c7e4a10")

_FEATURE_ENTITLEMENT_FIELDS = (
    "accessDeniedReason", "creditRate", "currentUsage", "entitlementUpdatedAt",
    "enumValues", "feature", "hasSoftLimit", "hasUnlimitedUsage", "isGranted", "meterId",
    "resetPeriod", "resetPeriodConfiguration", "usageLimit", "usagePeriodAnchor",
    "usagePeriodEnd", "usagePeriodStart", "usageUpdatedAt", "validUntil",
)
_CREDIT_ENTITLEMENT_FIELDS = (
    "accessDeniedReason", "currency", "currentUsage", "entitlementUpdatedAt",
    "hasSoftLimit", "isGranted", "usageLimit", "usagePeriodEnd", "usageUpdatedAt",
    "validUntil",
)


def stable_uuid(kind: str, ref: str) -> str:
    """A deterministic UUID string for an upstream object id (``kind`` + ``ref``)."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{kind}:{ref}"))


def feature(
    ref_id: str,
    feature_type: str = "BOOLEAN",
    meter_type: str | None = "None",
    **fields: Any,
) -> dict[str, Any]:
    """Build a ``FeatureEntitlement`` item.

    ``feature_type`` is a ``FeatureType`` (``BOOLEAN``, ``NUMBER``, ``ENUM``);
    ``meter_type`` a ``MeterType`` (``None``, ``Incremental``, ``Fluctuating``), or
    Python ``None`` for a null ``meterType``. ``fields`` are upstream field names
    that override the defaults, for example ``usageLimit=100, currentUsage=40``.
    A ``feature`` dict is merged into the default nested feature (keys ``refId,
    featureType, meterType, featureUnits, featureUnitsPlural, displayName,
    description, id, featureStatus``). Unknown field names raise ``ValueError``.
    """
    _check_fields(fields, _FEATURE_ENTITLEMENT_FIELDS, "FeatureEntitlement")
    nested = {
        "id": stable_uuid("feature", ref_id),
        "refId": ref_id,
        "featureType": feature_type,
        "meterType": meter_type,
        "featureUnits": None,
        "featureUnitsPlural": None,
        "displayName": ref_id,
        "description": None,
        "featureStatus": "ACTIVE",
    }
    nested.update(fields.pop("feature", None) or {})
    item: dict[str, Any] = {
        "__typename": "FeatureEntitlement",
        "isGranted": True,
        "accessDeniedReason": None,
        "usageLimit": None,
        "hasUnlimitedUsage": False,
        "hasSoftLimit": False,
        "currentUsage": None,
        "enumValues": None,
        "entitlementUpdatedAt": FIXED_UPDATED_AT,
        "usageUpdatedAt": None,
        "usagePeriodAnchor": None,
        "usagePeriodStart": None,
        "usagePeriodEnd": None,
        "resetPeriod": None,
        "resetPeriodConfiguration": None,
        "validUntil": None,
        "creditRate": None,
        "meterId": None,
        "feature": nested,
    }
    item.update(fields)
    return item


def credit(currency_id: str, **fields: Any) -> dict[str, Any]:
    """Build a ``CreditEntitlement`` item (a credit wallet).

    ``fields`` are upstream field names overriding the defaults, for example
    ``usageLimit=500, currentUsage=120``. A ``currency`` dict is merged into the
    default nested currency (keys ``currencyId, displayName, description,
    unitSingular, unitPlural, additionalMetaData``).
    """
    _check_fields(fields, _CREDIT_ENTITLEMENT_FIELDS, "CreditEntitlement")
    currency = {
        "currencyId": currency_id,
        "displayName": currency_id,
        "description": None,
        "unitSingular": None,
        "unitPlural": None,
        "additionalMetaData": None,
    }
    currency.update(fields.pop("currency", None) or {})
    item: dict[str, Any] = {
        "__typename": "CreditEntitlement",
        "isGranted": True,
        "accessDeniedReason": None,
        "usageLimit": None,
        "currentUsage": None,
        "hasSoftLimit": False,
        "usageUpdatedAt": None,
        "entitlementUpdatedAt": FIXED_UPDATED_AT,
        "usagePeriodEnd": None,
        "validUntil": None,
        "currency": currency,
    }
    item.update(fields)
    return item


def credit_rate(currency_id: str, amount: float) -> dict[str, Any]:
    """A ``CreditRate``: each unit of the feature costs ``amount`` of ``currency_id``."""
    return {"amount": amount, "currencyId": currency_id, "costFormula": None,
            "customCurrencyId": None}


def monthly_reset(according_to: str = "StartOfTheMonth") -> dict[str, Any]:
    """A ``MonthlyResetPeriodConfig`` (``StartOfTheMonth`` or ``SubscriptionStart``)."""
    return {"__typename": "MonthlyResetPeriodConfig", "monthlyAccordingTo": according_to}


def weekly_reset(according_to: str = "SubscriptionStart") -> dict[str, Any]:
    """A ``WeeklyResetPeriodConfig`` (``EveryMonday`` … or ``SubscriptionStart``)."""
    return {"__typename": "WeeklyResetPeriodConfig", "weeklyAccordingTo": according_to}


def yearly_reset(according_to: str = "SubscriptionStart") -> dict[str, Any]:
    """A ``YearlyResetPeriodConfig`` (only ``SubscriptionStart`` upstream)."""
    return {"__typename": "YearlyResetPeriodConfig", "yearlyAccordingTo": according_to}


def customer(
    customer_id: str,
    entitlements: list[dict[str, Any]],
    access_denied_reason: str | None = None,
    resource_id: str | None = None,
) -> dict[str, Any]:
    """One snapshot ``customers`` entry for ``(customer_id, resource_id)``."""
    return {
        "customerId": customer_id,
        "resourceId": resource_id,
        "entitlementsState": {
            "accessDeniedReason": access_denied_reason,
            "entitlementsV2": list(entitlements),
        },
    }


def snapshot(*customers: dict[str, Any]) -> dict[str, Any]:
    """A complete snapshot (format 1) from :func:`customer` entries."""
    return {"format": 1, "customers": list(customers)}


def _check_fields(fields: dict[str, Any], allowed: tuple[str, ...], type_name: str) -> None:
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise ValueError(f"unknown {type_name} field(s): {', '.join(unknown)}")
