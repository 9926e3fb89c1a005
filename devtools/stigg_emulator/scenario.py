"""The scenario store: what upstream "has", keyed by (customerId, resourceId).

Snapshot format (version 1), JSON::

    {"format": 1,
     "customers": [
       {"customerId": "acme",
        "resourceId": null,
        "entitlementsState": {
          "accessDeniedReason": null,
          "entitlementsV2": [{"__typename": "FeatureEntitlement", ...}, ...]}}]}

- ``resourceId`` may be omitted or null (the customer-level entry); an empty string
  also means null.
- ``entitlementsState`` is served verbatim (a deep copy) by Edge and, projected on the
  query's selection, by GraphQL. Items are upstream-shaped ``FeatureEntitlement`` /
  ``CreditEntitlement`` dicts; unknown ``__typename`` values are kept, so tests can
  model future union members.
- A (customer, resource) pair that is absent reads as
  ``{"accessDeniedReason": "CustomerNotFound", "entitlementsV2": []}``.

Change listeners (the WebSocket side, :mod:`.ws`) receive a :class:`ScenarioChange` after
every mutation of the store.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SNAPSHOT_FORMAT = 1

Key = tuple[str, str | None]


class SnapshotError(ValueError):
    """A snapshot does not follow the documented format."""


@dataclass(frozen=True)
class ScenarioChange:
    """One store mutation.

    ``kind`` is ``"entitlements"`` (an entry was set or replaced), ``"removed"``,
    ``"usage"`` (a feature's or wallet's usage changed; ``ref`` is the feature refId
    or currencyId) or ``"reloaded"`` (the whole scenario was replaced).
    """

    kind: str
    customer_id: str | None = None
    resource_id: str | None = None
    ref: str | None = None


def not_found_state() -> dict[str, Any]:
    """The in-band answer for an unknown (customer, resource)."""
    return {"accessDeniedReason": "CustomerNotFound", "entitlementsV2": []}


def normalize_resource(resource_id: str | None) -> str | None:
    """Map an empty resource id to None (the customer-level entry)."""
    return resource_id or None


def read_snapshot(source: dict[str, Any] | str | Path) -> dict[str, Any]:
    """Return a snapshot dict from a dict, or from a JSON file path."""
    if isinstance(source, dict):
        return source
    with open(source, encoding="utf-8") as handle:
        return json.load(handle)


class ScenarioStore:
    """Entitlement states by (customerId, resourceId); all values are upstream JSON."""

    def __init__(self) -> None:
        self._entries: dict[Key, dict[str, Any]] = {}
        self._listeners: list[Callable[[ScenarioChange], None]] = []

    # -- loading -------------------------------------------------------------------
    def load(self, snapshot: dict[str, Any]) -> None:
        """Replace the whole scenario with ``snapshot``; raises SnapshotError."""
        entries = parse_snapshot(snapshot)
        self._entries = entries
        self._emit(ScenarioChange("reloaded"))

    def dump(self) -> dict[str, Any]:
        """The current scenario as a snapshot dict (deep copy)."""
        return {
            "format": SNAPSHOT_FORMAT,
            "customers": [
                {"customerId": cid, "resourceId": rid,
                 "entitlementsState": copy.deepcopy(state)}
                for (cid, rid), state in self._entries.items()
            ],
        }

    # -- entries -------------------------------------------------------------------
    def set(self, customer_id: str, entitlements: list[dict[str, Any]],
            access_denied_reason: str | None = None,
            resource_id: str | None = None) -> None:
        """Create or replace the entry of (customer_id, resource_id)."""
        rid = normalize_resource(resource_id)
        self._entries[(customer_id, rid)] = {
            "accessDeniedReason": access_denied_reason,
            "entitlementsV2": copy.deepcopy(list(entitlements)),
        }
        self._emit(ScenarioChange("entitlements", customer_id, rid))

    def remove(self, customer_id: str, resource_id: str | None = None) -> bool:
        """Delete an entry; returns whether it existed."""
        rid = normalize_resource(resource_id)
        existed = self._entries.pop((customer_id, rid), None) is not None
        if existed:
            self._emit(ScenarioChange("removed", customer_id, rid))
        return existed

    def has(self, customer_id: str, resource_id: str | None = None) -> bool:
        return (customer_id, normalize_resource(resource_id)) in self._entries

    def state(self, customer_id: str, resource_id: str | None = None) -> dict[str, Any]:
        """A deep copy of the entitlementsState, or the CustomerNotFound state."""
        entry = self._entries.get((customer_id, normalize_resource(resource_id)))
        return copy.deepcopy(entry) if entry is not None else not_found_state()

    def find_feature(self, customer_id: str, resource_id: str | None,
                     feature_id: str) -> dict[str, Any] | None:
        """The live (mutable) FeatureEntitlement with ``feature.refId == feature_id``."""
        for item in self._items(customer_id, resource_id):
            if (item.get("__typename") == "FeatureEntitlement"
                    and (item.get("feature") or {}).get("refId") == feature_id):
                return item
        return None

    def find_credit(self, customer_id: str, resource_id: str | None,
                    currency_id: str) -> dict[str, Any] | None:
        """The live (mutable) CreditEntitlement of wallet ``currency_id``."""
        for item in self._items(customer_id, resource_id):
            if (item.get("__typename") == "CreditEntitlement"
                    and (item.get("currency") or {}).get("currencyId") == currency_id):
                return item
        return None

    def notify_usage(self, customer_id: str, resource_id: str | None, ref: str) -> None:
        """Tell listeners that the usage of ``ref`` changed in place."""
        self._emit(ScenarioChange("usage", customer_id, normalize_resource(resource_id), ref))

    # -- listeners -----------------------------------------------------------------
    def add_listener(self, listener: Callable[[ScenarioChange], None]) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[ScenarioChange], None]) -> None:
        self._listeners.remove(listener)

    def _emit(self, change: ScenarioChange) -> None:
        for listener in list(self._listeners):
            listener(change)

    def _items(self, customer_id: str, resource_id: str | None) -> list[dict[str, Any]]:
        entry = self._entries.get((customer_id, normalize_resource(resource_id)))
        return entry["entitlementsV2"] if entry is not None else []


def parse_snapshot(snapshot: dict[str, Any]) -> dict[Key, dict[str, Any]]:
    """Validate a snapshot and return its entries (deep-copied) by key."""
    if not isinstance(snapshot, dict) or snapshot.get("format") != SNAPSHOT_FORMAT:
        raise SnapshotError(f"snapshot must be an object with \"format\": {SNAPSHOT_FORMAT}")
    customers = snapshot.get("customers")
    if not isinstance(customers, list):
        raise SnapshotError("snapshot \"customers\" must be a list")
    entries: dict[Key, dict[str, Any]] = {}
    for index, entry in enumerate(customers):
        where = f"customers[{index}]"
        if not isinstance(entry, dict):
            raise SnapshotError(f"{where} must be an object")
        cid = entry.get("customerId")
        if not isinstance(cid, str) or not cid:
            raise SnapshotError(f"{where}.customerId must be a non-empty string")
        rid = entry.get("resourceId")
        if rid is not None and not isinstance(rid, str):
            raise SnapshotError(f"{where}.resourceId must be a string or null")
        state = entry.get("entitlementsState")
        if not isinstance(state, dict) or not isinstance(state.get("entitlementsV2"), list):
            raise SnapshotError(f"{where}.entitlementsState.entitlementsV2 must be a list")
        for pos, item in enumerate(state["entitlementsV2"]):
            if not isinstance(item, dict) or not isinstance(item.get("__typename"), str):
                raise SnapshotError(
                    f"{where}.entitlementsState.entitlementsV2[{pos}] needs a __typename")
        key = (cid, normalize_resource(rid))
        if key in entries:
            raise SnapshotError(f"{where} repeats customer {cid!r} resource {rid!r}")
        entries[key] = {
            "accessDeniedReason": state.get("accessDeniedReason"),
            "entitlementsV2": copy.deepcopy(state["entitlementsV2"]),
            **{k: copy.deepcopy(v) for k, v in state.items()
               if k not in ("accessDeniedReason", "entitlementsV2")},
        }
    return entries
