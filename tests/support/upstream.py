"""Upstream-shaped scenario helpers for the vectors (vectors.md notation).

``feature("api-calls", "NUMBER", "Incremental", usageLimit=100)`` is the vectors'
``api-calls: NUMBER/Incremental, usageLimit=100``; the builders are the emulator's, whose
omitted fields take the vectors' defaults.
"""
from __future__ import annotations

from stigg_emulator import credit, feature  # noqa: F401 - re-exported for the tests

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
