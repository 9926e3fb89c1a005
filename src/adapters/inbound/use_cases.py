"""The use cases every inbound adapter calls, bundled once so transports share them.

Both the gRPC servicer and the HTTP/JSON API take a ``UseCases``; neither owns a rule of
its own (design.md §5 item 8).
"""
from __future__ import annotations

from dataclasses import dataclass

from domain.services.check_entitlement import CheckEntitlement, CheckTypedEntitlement
from domain.services.check_entitlement_v2 import CheckEntitlementV2
from domain.services.get_entitlements_state import GetEntitlementsState
from domain.services.reload_entitlements import ReloadEntitlements
from domain.services.queue_events import QueueEvents
from domain.services.report_events import ReportEvents
from domain.services.report_usage import ReportUsage


@dataclass(frozen=True, slots=True)
class UseCases:
    """Everything an inbound adapter calls; built by bootstrap."""

    typed: CheckTypedEntitlement
    generic: CheckEntitlement
    v2: CheckEntitlementV2
    state: GetEntitlementsState
    reload: ReloadEntitlements
    usage: ReportUsage
    events: ReportEvents | QueueEvents
