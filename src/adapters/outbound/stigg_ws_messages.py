"""Subscription payloads (``next`` messages) → real-time events (upstream-api.md §9.3).

Tolerant reader: a payload with ``errors`` or without ``data`` is logged and ignored.
"""
from __future__ import annotations

import logging
from typing import Any, Mapping

from adapters.outbound.stigg_payloads import read_entitlement_set, time_ms
from domain.model.entitlement import Usage
from domain.model.identifiers import CustomerKey
from domain.model.realtime import (
    EntitlementsUpdated,
    PackagePublished,
    RealtimeEvent,
    UsageUpdated,
)
from domain.model.reports import UsageTarget

log = logging.getLogger("sidecar.realtime")

_TARGETS = {"FEATURE": UsageTarget.FEATURE, "CREDIT": UsageTarget.CREDIT}


def _key(update: Mapping[str, Any]) -> CustomerKey | None:
    customer = update.get("customerId")
    if not isinstance(customer, str) or not customer:
        return None
    resource = update.get("resourceId")
    return CustomerKey.of(customer, resource if isinstance(resource, str) else None)


def _entitlements(update: Mapping[str, Any], now_ms: int) -> RealtimeEvent | None:
    key = _key(update)
    if key is None:
        return None
    items = update.get("entitlements")
    reason = update.get("accessDeniedReason")
    entitlements = read_entitlement_set(key, reason, items, now_ms)
    purge = not items and reason is None
    return EntitlementsUpdated(entitlements, purge=purge)


def _usage(update: Mapping[str, Any], now_ms: int) -> RealtimeEvent | None:
    key = _key(update)
    reference = update.get("entitlementReference")
    usage = update.get("usage")
    if key is None or not isinstance(reference, Mapping) or not isinstance(usage, Mapping):
        return None
    target = _TARGETS.get(reference.get("type"))
    ref_id = reference.get("id")
    if target is None or not isinstance(ref_id, str):
        return None
    current = usage.get("currentUsage")
    value = float(current) if isinstance(current, (int, float)) and not isinstance(current, bool) else 0.0
    return UsageUpdated(
        key=key,
        target=target,
        ref_id=ref_id,
        usage=Usage(
            current_usage=value,
            period_start_ms=time_ms(usage.get("usagePeriodStart"), "usagePeriodStart"),
            period_end_ms=time_ms(usage.get("usagePeriodEnd"), "usagePeriodEnd"),
            updated_at_ms=time_ms(usage.get("usageUpdatedAt"), "usageUpdatedAt") or now_ms,
        ),
    )


def _package(update: Mapping[str, Any], now_ms: int) -> RealtimeEvent | None:
    return PackagePublished(all_customers=update.get("migrationType") == "ALL_CUSTOMERS")


_READERS = {
    "entitlementsUpdatedV2": _entitlements,
    "usageUpdatedV2": _usage,
    "packagePublished": _package,
}


def read_next_payload(payload: Any, now_ms: int) -> RealtimeEvent | None:
    """The event in one ``next`` payload, or ``None`` for anything unusable (logged)."""
    if not isinstance(payload, Mapping):
        log.warning("real-time payload ignored: not an object")
        return None
    if payload.get("errors"):
        log.warning("real-time payload with errors ignored", extra={"errors": str(payload["errors"])[:500]})
        return None
    data = payload.get("data")
    if not isinstance(data, Mapping):
        log.warning("real-time payload without data ignored")
        return None
    for field, reader in _READERS.items():
        update = data.get(field)
        if isinstance(update, Mapping):
            event = reader(update, now_ms)
            if event is None:
                log.warning("real-time update ignored: malformed", extra={"field": field})
            return event
    log.warning("real-time payload ignored: unknown field", extra={"fields": sorted(data)[:5]})
    return None
