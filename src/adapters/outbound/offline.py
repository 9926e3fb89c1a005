"""OFFLINE=true adapters: no network at all (upstream-api.md §5.4, decision-rules.md §9.6).

Reads either come from an entitlement snapshot file (ours) or fail as "offline", so
they answer with fallbacks; writes are acknowledged locally.
"""
from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any, Sequence

from adapters.outbound.stigg_payloads import read_entitlements_state
from domain.model.budget import Budget
from domain.model.entitlement import EntitlementSet
from domain.model.identifiers import CustomerKey
from domain.model.reports import Event, UsageAck, UsageReport
from ports.clock import Clock
from ports.entitlement_source import EntitlementSource
from ports.errors import SourceOfflineError
from ports.usage_reporter import EventReporter, UsageReporter

SNAPSHOT_FORMAT = 1


class OfflineEntitlementSource(EntitlementSource):
    """Every fetch fails as offline, so every read answers with its fallback."""

    async def fetch(self, key: CustomerKey, *, consistent: bool, budget: Budget) -> EntitlementSet:
        raise SourceOfflineError("OFFLINE=true: no upstream")


class SnapshotEntitlementSource(EntitlementSource):
    """Entitlement states from a snapshot file, in the upstream's own shape.

    Format (the emulator's scenarios use the same): ``{"format": 1, "customers":
    [{"customerId", "resourceId" (or null), "entitlementsState": {"accessDeniedReason",
    "entitlementsV2": [...]}}]}``. A customer not in the file reads as upstream's in-band
    ``CustomerNotFound``. Raises ``ValueError`` naming the problem when the file is
    unusable (bootstrap reports it at start-up).
    """

    def __init__(self, path: str | Path, clock: Clock) -> None:
        self._clock = clock
        self._states: dict[CustomerKey, dict[str, Any]] = load_snapshot(Path(path))

    async def fetch(self, key: CustomerKey, *, consistent: bool, budget: Budget) -> EntitlementSet:
        state = self._states.get(key, {"accessDeniedReason": "CustomerNotFound", "entitlementsV2": []})
        return read_entitlements_state(key, state, self._clock.now_ms())

    def __len__(self) -> int:
        return len(self._states)


def load_snapshot(path: Path) -> dict[CustomerKey, dict[str, Any]]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(raw, dict) or raw.get("format") != SNAPSHOT_FORMAT:
        raise ValueError(f"{path}: expected an object with \"format\": {SNAPSHOT_FORMAT}")
    states: dict[CustomerKey, dict[str, Any]] = {}
    for index, entry in enumerate(raw.get("customers") or []):
        customer = entry.get("customerId") if isinstance(entry, dict) else None
        state = entry.get("entitlementsState") if isinstance(entry, dict) else None
        if not isinstance(customer, str) or not customer or not isinstance(state, dict):
            raise ValueError(f"{path}: customers[{index}] needs customerId and entitlementsState")
        states[CustomerKey.of(customer, entry.get("resourceId"))] = state
    return states


class OfflineUsageReporter(UsageReporter):
    """Acknowledges locally: a random measurement id, the ids echoed, no usage values."""

    async def report(self, items: Sequence[UsageReport], budget: Budget) -> list[UsageAck]:
        return [UsageAck(str(uuid.uuid4()), item.key, item.feature_id) for item in items]


class OfflineEventReporter(EventReporter):
    async def report(self, events: Sequence[Event], budget: Budget) -> None:
        return None
