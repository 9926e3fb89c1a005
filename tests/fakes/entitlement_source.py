"""An in-memory EntitlementSource that records every fetch and can be held or broken."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

from domain.model.budget import Budget
from domain.model.entitlement import EntitlementSet
from domain.model.identifiers import CustomerKey
from domain.model.kinds import AccessDeniedReason
from ports.entitlement_source import EntitlementSource
from ports.errors import UpstreamError, UpstreamUnavailableError


@dataclass(frozen=True, slots=True)
class FetchCall:
    key: CustomerKey
    consistent: bool
    budget: Budget


class FakeEntitlementSource(EntitlementSource):
    """Serves the sets it was given, keyed by ``EntitlementSet.key``.

    - A key with no set is answered in band with ``CustomerNotFound`` and an empty set
      (as upstream does, decision-rules.md §1.1).
    - ``fail(error)`` makes every fetch raise ``error`` until ``recover()``.
    - ``hold()`` returns an ``asyncio.Event``; fetches wait on it (after being recorded)
      until the test sets it, so concurrent callers overlap deterministically.
    - ``calls`` lists every fetch in order; ``started`` is set by the first one.
    """

    def __init__(self, *sets: EntitlementSet) -> None:
        self._sets: dict[CustomerKey, EntitlementSet] = {s.key: s for s in sets}
        self._failure: UpstreamError | None = None
        self._gate: asyncio.Event | None = None
        self.calls: list[FetchCall] = []
        self.started = asyncio.Event()

    # --- test controls ---
    def serve(self, *sets: EntitlementSet) -> None:
        for entitlements in sets:
            self._sets[entitlements.key] = entitlements

    def fail(self, error: UpstreamError | None = None) -> None:
        self._failure = error if error is not None else UpstreamUnavailableError("upstream down")

    def recover(self) -> None:
        self._failure = None

    def hold(self) -> asyncio.Event:
        self._gate = asyncio.Event()
        return self._gate

    @property
    def keys_fetched(self) -> list[CustomerKey]:
        return [call.key for call in self.calls]

    # --- the port ---
    async def fetch(self, key: CustomerKey, *, consistent: bool, budget: Budget) -> EntitlementSet:
        self.calls.append(FetchCall(key, consistent, budget))
        self.started.set()
        if self._gate is not None:
            await self._gate.wait()
        if self._failure is not None:
            raise self._failure
        found = self._sets.get(key)
        if found is None:
            return EntitlementSet(key, customer_reason=AccessDeniedReason.CUSTOMER_NOT_FOUND)
        return found
