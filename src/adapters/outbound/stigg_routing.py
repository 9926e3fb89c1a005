"""Which upstream path serves a read (upstream-api.md §3.1)."""
from __future__ import annotations

from domain.model.budget import Budget
from domain.model.entitlement import EntitlementSet
from domain.model.identifiers import CustomerKey
from ports.entitlement_source import EntitlementSource


class RoutingEntitlementSource(EntitlementSource):
    """Consistent reads (ReloadEntitlements) -> GraphQL, since Edge lags writes; other
    reads -> Edge when ``edge_enabled`` (``EDGE_ENABLED``), else GraphQL. ``edge`` may be
    ``None`` when Edge is disabled."""

    def __init__(self, graphql: EntitlementSource, edge: EntitlementSource | None, *,
                 edge_enabled: bool) -> None:
        if edge_enabled and edge is None:
            raise ValueError("edge_enabled needs an Edge source")
        self._graphql = graphql
        self._edge = edge if edge_enabled else None

    async def fetch(self, key: CustomerKey, *, consistent: bool, budget: Budget) -> EntitlementSet:
        """Delegates; raises whatever the chosen source raises (``UpstreamError``)."""
        if consistent or self._edge is None:
            return await self._graphql.fetch(key, consistent=consistent, budget=budget)
        return await self._edge.fetch(key, consistent=False, budget=budget)
