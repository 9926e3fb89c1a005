"""Usage and event reporting ports (writes; upstream-api.md §5)."""
from __future__ import annotations

from abc import abstractmethod
from typing import Protocol, Sequence, runtime_checkable

from domain.model.budget import Budget
from domain.model.reports import Event, UsageAck, UsageReport


@runtime_checkable
class UsageReporter(Protocol):
    @abstractmethod
    async def report(self, items: Sequence[UsageReport], budget: Budget) -> list[UsageAck]:
        """Send one mutation of at most 100 items; acks come in request order.

        Retries reuse each item's idempotency key. Raises an ``UpstreamError``
        subclass on failure.
        """


@runtime_checkable
class EventReporter(Protocol):
    @abstractmethod
    async def report(self, events: Sequence[Event], budget: Budget) -> None:
        """Send one mutation of at most 1000 events. Raises an ``UpstreamError`` subclass."""
