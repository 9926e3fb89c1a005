"""Event outbox port: a durable queue between ReportEvents and the upstream.

``QueueEvents`` appends what callers report; ``DeliverEvents`` peeks the oldest items,
sends them and acknowledges what the upstream accepted. Delivery is at least once: an
item is only forgotten once acknowledged, so after a crash the unacknowledged ones are
sent again, and the upstream deduplicates them on the caller's ``idempotency_key``.
"""
from __future__ import annotations

from abc import abstractmethod
from typing import Protocol, Sequence, TypeVar, runtime_checkable

from domain.model.reports import Event, UsageReport

#: What one outbox holds: ``Event`` (ReportEvents) or ``UsageReport`` (buffered usage).
Item = TypeVar("Item")

#: Identifies one queued event within one outbox; increases in append order.
OutboxItemId = int


class OutboxFullError(Exception):
    """The outbox cannot take these events without exceeding its capacity (bytes).

    Nothing of the call was queued. ``used_bytes`` is what the outbox held at the time,
    ``requested_bytes`` what the call would have added; ``what`` names the outbox in the
    message (``"event outbox"``, ``"usage outbox"``).
    """

    def __init__(self, capacity_bytes: int, used_bytes: int, requested_bytes: int = 0, *,
                 what: str = "event outbox") -> None:
        super().__init__(f"{what} is full ({used_bytes} of {capacity_bytes} bytes used)")
        self.what = what
        self.capacity_bytes = capacity_bytes
        self.used_bytes = used_bytes
        self.requested_bytes = requested_bytes


class OutboxUnavailableError(Exception):
    """The outbox's storage cannot be reached (e.g. its Redis is down or timed out).

    Raised by any outbox method. After a failed ``append`` the items may or may not have
    been queued (the reply was lost): callers retry with the same idempotency keys, and
    the upstream deduplicates. Inbound adapters answer ``UNAVAILABLE``.
    """


@runtime_checkable
class Outbox(Protocol[Item]):
    """A durable queue of one item type (the docstring above holds for every type)."""

    @abstractmethod
    async def append(self, items: Sequence[Item]) -> None:
        """Queue all of ``items`` or none. When it returns they survive a crash.

        Raises ``OutboxFullError`` when over capacity (nothing queued).
        """

    @abstractmethod
    async def peek(
        self, max_events: int, *, max_bytes: int | None = None
    ) -> list[tuple[OutboxItemId, Item]]:
        """The oldest unacknowledged items, oldest first, without removing them: at most
        ``max_events``, and (if given) at most ``max_bytes`` of stored size, though always
        at least one item when any is queued. Empty when nothing is queued."""

    @abstractmethod
    async def acknowledge(self, ids: Sequence[OutboxItemId]) -> None:
        """Forget these items for good (durable when it returns). Unknown or already
        acknowledged ids are ignored."""

    @abstractmethod
    def depth(self) -> int:
        """Unacknowledged items."""

    @abstractmethod
    def bytes_used(self) -> int:
        """Bytes counted against the capacity (stored size, including acknowledged items
        whose storage is not yet reclaimed)."""

    @abstractmethod
    def oldest_age_s(self, now_ms: int) -> float | None:
        """Seconds since the oldest unacknowledged item was appended, given the wall
        clock ``now_ms`` (epoch ms, ``Clock.now_ms()``); ``None`` when empty."""

    @abstractmethod
    async def close(self) -> None:
        """Finish pending appends and release the storage; the outbox is unusable after."""


@runtime_checkable
class EventOutbox(Outbox[Event], Protocol):
    """The outbox of ReportEvents."""


@runtime_checkable
class UsageOutbox(Outbox[UsageReport], Protocol):
    """The outbox of buffered ReportUsage items (``USAGE_BUFFERING=true``)."""
