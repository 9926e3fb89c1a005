"""A loopback stand-in for Stigg's upstream API (Edge, GraphQL over HTTP and over
WebSocket).

Usage::

    from stigg_emulator import StiggEmulator, feature, credit

    async with StiggEmulator(api_key="test-key") as emu:
        emu.set_customer("acme", [feature("sso"),
                                  feature("api-calls", "NUMBER", "Incremental",
                                          usageLimit=100, currentUsage=40)])
        # point API_URL and EDGE_API_URL at emu.base_url
        assert emu.count(kind="edge", customer_id="acme") == 0

Served routes (one port): ``GET /v1/c/{customerId}/entitlements-state.json`` (Edge),
``POST /graphql``, ``GET /graphql`` upgraded to WebSocket (subprotocol
``graphql-transport-ws``, :mod:`.ws`; ``emu.ws_url``), and control routes under
``/_emulator/`` (:mod:`.control`).
Command line: ``python -m stigg_emulator --port 0 --api-key K --scenario FILE``.

Snapshot format (version 1), the scenario as JSON::

    {"format": 1,
     "customers": [
       {"customerId": "acme",
        "resourceId": null,
        "entitlementsState": {
          "accessDeniedReason": null,
          "entitlementsV2": [
            {"__typename": "FeatureEntitlement", "isGranted": true, ...,
             "feature": {"refId": "sso", "featureType": "BOOLEAN", ...}},
            {"__typename": "CreditEntitlement", ..., "currency": {"currencyId": ...}}
          ]}}]}

Entries are keyed by (customerId, resourceId); ``resourceId`` null or omitted is the
customer-level entry. Item fields are the upstream GraphQL ones (DateTime values as
``"2025-07-01T00:00:00.000Z"``); :mod:`.builders` makes them tersely. An absent
(customer, resource) reads as ``accessDeniedReason: "CustomerNotFound"`` with an
empty ``entitlementsV2``. ``reportUsage`` for a feature the entry does not have
fails with GraphQL error code ``FeatureNotFound``.
"""

from pathlib import Path

from .builders import (
    FIXED_UPDATED_AT, credit, credit_rate, customer, feature, monthly_reset, snapshot,
    weekly_reset, yearly_reset,
)
from .emulator import StiggEmulator
from .faults import Fault
from .recorder import RequestRecord
from .scenario import ScenarioChange, SnapshotError
from .ws import WS_SUBPROTOCOL

DEMO_SCENARIO = str(Path(__file__).with_name("scenarios") / "demo.json")
"""Path of the shipped demo snapshot."""

__all__ = [
    "DEMO_SCENARIO", "FIXED_UPDATED_AT", "Fault", "RequestRecord", "ScenarioChange",
    "SnapshotError", "StiggEmulator", "WS_SUBPROTOCOL", "credit", "credit_rate", "customer",
    "feature", "monthly_reset", "snapshot", "weekly_reset", "yearly_reset",
]
