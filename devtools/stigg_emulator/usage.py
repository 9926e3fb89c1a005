"""Writes: usage measurements (with idempotency) and raw usage events.

Usage rules (``reportUsage`` / ``reportUsageBulk`` items, upstream input shape):

- The item addresses the FeatureEntitlement whose ``feature.refId`` is ``featureId``
  in the entry (``customerId``, ``resourceId``). If there is none (unknown customer,
  resource or feature), the whole request fails with code ``FeatureNotFound`` and
  nothing is applied.
- ``updateBehavior`` ``DELTA`` (the default) adds ``value`` to ``currentUsage``
  (null counts as 0); ``SET`` replaces it. ``usageUpdatedAt`` becomes now.
- If the feature has a ``creditRate`` and the entry has the CreditEntitlement of
  ``creditRate.currencyId``, the wallet's ``currentUsage`` grows by
  ``(new - old) * creditRate.amount`` and the measurement carries ``credit``;
  otherwise ``credit`` is null.
- Idempotency: an ``idempotencyKey`` seen before is not applied again; the answer is
  the measurement returned the first time (same ``id`` and ``currentUsage``).

A measurement is a ``UsageMeasurementWithCurrentUsage`` dict: ``id`` (UUID),
``environmentId``, ``customerId``, ``featureId``, ``resourceId``, ``currentUsage``,
``usagePeriodStart``, ``usagePeriodEnd``, ``nextResetDate`` (= ``usagePeriodEnd``),
``timestamp`` and ``createdAt`` (now, ISO), ``value`` and ``credit``
(``{currencyId, currentUsage, usagePeriodEnd, timestamp, consumed, usageLimit}``).
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from .gql import OperationError
from .scenario import ScenarioStore, normalize_resource
from .timeutil import Clock, iso_ms


class UsageLedger:
    """Applies usage items to the store and remembers what it did.

    - ``inputs``: every item of every request within the size limit, in order,
      duplicates and rejected (FeatureNotFound) items included.
    - ``by_key``: idempotencyKey → the first measurement returned for it.
    - ``measurements``: every measurement actually applied (not replays).
    - ``replays``: how many items were answered from ``by_key`` without applying.
    - ``overrides``: fields merged into every new measurement (tests use it to force,
      say, ``currentUsage=None`` or a fixed ``id``).
    """

    def __init__(self, store: ScenarioStore, clock: Clock, environment_id: str) -> None:
        self._store = store
        self._clock = clock
        self._environment_id = environment_id
        self.inputs: list[dict[str, Any]] = []
        self.by_key: dict[str, dict[str, Any]] = {}
        self.measurements: list[dict[str, Any]] = []
        self.replays = 0
        self.overrides: dict[str, Any] = {}

    def clear(self) -> None:
        self.inputs.clear()
        self.by_key.clear()
        self.measurements.clear()
        self.replays = 0
        self.overrides.clear()

    def report(self, items: list[dict[str, Any]],
               max_items: int | None = None) -> list[dict[str, Any]]:
        """Apply ``items`` in order (all or nothing) and return one measurement each.

        More than ``max_items`` items fail with ``BadUserInput``; such a request is
        neither applied nor added to ``inputs``.
        """
        _check_size(items, max_items, "usages")
        self.inputs.extend(copy.deepcopy(items))
        pending_keys: set[str] = set()
        for index, item in enumerate(items):
            key = item.get("idempotencyKey")
            if key and (key in self.by_key or key in pending_keys):
                continue
            if key:
                pending_keys.add(key)
            if self._entitlement(item) is None:
                where = f" (usages[{index}])" if len(items) > 1 else ""
                raise OperationError(
                    "FeatureNotFound",
                    f"Feature {item.get('featureId')!r} not found for customer "
                    f"{item.get('customerId')!r}{where}")
        return [self._report_one(item) for item in items]

    def _report_one(self, item: dict[str, Any]) -> dict[str, Any]:
        key = item.get("idempotencyKey")
        if key and key in self.by_key:
            self.replays += 1
            return copy.deepcopy(self.by_key[key])
        measurement = self._apply(item)
        self.measurements.append(measurement)
        if key:
            self.by_key[key] = measurement
        return copy.deepcopy(measurement)

    def _entitlement(self, item: dict[str, Any]) -> dict[str, Any] | None:
        return self._store.find_feature(item["customerId"],
                                        normalize_resource(item.get("resourceId")),
                                        item["featureId"])

    def _apply(self, item: dict[str, Any]) -> dict[str, Any]:
        now = iso_ms(self._clock())
        customer_id = item["customerId"]
        resource_id = normalize_resource(item.get("resourceId"))
        entitlement = self._entitlement(item)
        assert entitlement is not None
        value = float(item["value"])
        old = float(entitlement.get("currentUsage") or 0)
        new = value if item.get("updateBehavior") == "SET" else old + value
        entitlement["currentUsage"] = new
        entitlement["usageUpdatedAt"] = now
        self._store.notify_usage(customer_id, resource_id, item["featureId"])
        measurement = {
            "id": str(uuid.uuid4()),
            "environmentId": self._environment_id,
            "customerId": customer_id,
            "featureId": item["featureId"],
            "resourceId": resource_id,
            "currentUsage": new,
            "usagePeriodStart": entitlement.get("usagePeriodStart"),
            "usagePeriodEnd": entitlement.get("usagePeriodEnd"),
            "nextResetDate": entitlement.get("usagePeriodEnd"),
            "timestamp": now,
            "createdAt": now,
            "value": value,
            "credit": self._charge(entitlement, customer_id, resource_id, new - old, now),
        }
        measurement.update(copy.deepcopy(self.overrides))
        return measurement

    def _charge(self, entitlement: dict[str, Any], customer_id: str,
                resource_id: str | None, delta: float, now: str) -> dict[str, Any] | None:
        rate = entitlement.get("creditRate")
        if not rate:
            return None
        wallet = self._store.find_credit(customer_id, resource_id, rate["currencyId"])
        if wallet is None:
            return None
        consumed = delta * float(rate["amount"])
        wallet["currentUsage"] = float(wallet.get("currentUsage") or 0) + consumed
        wallet["usageUpdatedAt"] = now
        self._store.notify_usage(customer_id, resource_id, rate["currencyId"])
        return {
            "currencyId": rate["currencyId"],
            "currentUsage": wallet["currentUsage"],
            "usagePeriodEnd": wallet.get("usagePeriodEnd"),
            "timestamp": now,
            "consumed": consumed,
            "usageLimit": float(wallet.get("usageLimit") or 0),
        }


class EventLog:
    """Raw usage events (``UsageEventReportInput`` dicts), deduplicated by key.

    ``received`` lists every event of every request within the size limit,
    duplicates included;
    ``by_key`` maps each idempotencyKey to the first event with it.
    """

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.by_key: dict[str, dict[str, Any]] = {}

    @property
    def duplicates(self) -> int:
        return len(self.received) - len(self.by_key)

    def clear(self) -> None:
        self.received.clear()
        self.by_key.clear()

    def report(self, events: list[dict[str, Any]], max_items: int | None = None) -> None:
        """Record ``events``; more than ``max_items`` fail with ``BadUserInput`` and
        are not recorded."""
        _check_size(events, max_items, "events")
        for event in events:
            copied = copy.deepcopy(event)
            self.received.append(copied)
            self.by_key.setdefault(event["idempotencyKey"], copied)


def _check_size(items: list[Any], max_items: int | None, noun: str) -> None:
    if max_items is not None and len(items) > max_items:
        raise OperationError("BadUserInput",
                             f"Cannot report more than {max_items} {noun} at once "
                             f"(got {len(items)})")
