"""Entitlement source port: where a cache miss gets a customer's entitlement set."""
from __future__ import annotations

from abc import abstractmethod
from typing import Protocol, runtime_checkable

from domain.model.budget import Budget
from domain.model.entitlement import EntitlementSet
from domain.model.identifiers import CustomerKey


@runtime_checkable
class EntitlementSource(Protocol):
    @abstractmethod
    async def fetch(self, key: CustomerKey, *, consistent: bool, budget: Budget) -> EntitlementSet:
        """The current set for ``key``; "customer not found" is in band, not an error.

        ``consistent=True`` asks for the latest state (GraphQL, never Edge; used by
        ReloadEntitlements). Raises an ``UpstreamError`` subclass on failure; never
        runs past ``budget``.
        """
