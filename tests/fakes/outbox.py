"""InMemoryOutbox: the Outbox port in a dict, for use-case tests (events or usage).

Sizes are the items' JSON length, so capacities behave like the file outbox's (not
byte for byte). ``fail_next_append(error)`` makes the next append raise ``error``.
``InMemoryEventOutbox`` holds events; ``InMemoryOutbox(clock)`` any item.
"""
from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import astuple
from typing import Any, Sequence

from domain.model.identifiers import CustomerKey
from domain.model.reports import Event
from ports.clock import Clock
from ports.event_outbox import Outbox, OutboxFullError, OutboxItemId


def stored_size(event: Event) -> int:
    return len(json.dumps([event.event_name, event.key.customer_id, event.key.resource_id,
                           event.idempotency_key, event.dimensions, event.timestamp_ms]))


def _size(item: Any) -> int:
    if isinstance(item, Event):
        return stored_size(item)
    return len(json.dumps(astuple(item), default=str))


class InMemoryOutbox(Outbox):
    def __init__(self, clock: Clock, max_bytes: int = 64 * 1024 * 1024) -> None:
        self._clock = clock
        self.max_bytes = max_bytes
        self._items: OrderedDict[int, tuple[Any, int, int]] = OrderedDict()
        self._next_id = 1
        self._failure: Exception | None = None
        self.appends: list[list[Event]] = []
        self.acknowledged: list[OutboxItemId] = []
        self.closed = False

    def fail_next_append(self, error: Exception) -> None:
        self._failure = error

    @property
    def events(self) -> list[Any]:
        """What is queued, oldest first."""
        return [event for event, _, _ in self._items.values()]

    items = events

    async def append(self, events: Sequence[Event]) -> None:
        if self._failure is not None:
            error, self._failure = self._failure, None
            raise error
        size = sum(map(_size, events))
        if self.bytes_used() + size > self.max_bytes:
            raise OutboxFullError(self.max_bytes, self.bytes_used(), size)
        self.appends.append(list(events))
        now = self._clock.now_ms()
        for event in events:
            self._items[self._next_id] = (event, _size(event), now)
            self._next_id += 1

    async def peek(self, max_events: int, *, max_bytes: int | None = None
                   ) -> list[tuple[OutboxItemId, Event]]:
        found: list[tuple[OutboxItemId, Event]] = []
        total = 0
        for item_id, (event, size, _) in self._items.items():
            if len(found) >= max_events or (found and max_bytes is not None and total + size > max_bytes):
                break
            found.append((item_id, event))
            total += size
        return found

    async def acknowledge(self, ids: Sequence[OutboxItemId]) -> None:
        for item_id in ids:
            if self._items.pop(item_id, None) is not None:
                self.acknowledged.append(item_id)

    def depth(self) -> int:
        return len(self._items)

    def bytes_used(self) -> int:
        return sum(size for _, size, _ in self._items.values())

    def oldest_age_s(self, now_ms: int) -> float | None:
        for _, _, at_ms in self._items.values():
            return max(0.0, (now_ms - at_ms) / 1000)
        return None

    async def close(self) -> None:
        self.closed = True


class InMemoryEventOutbox(InMemoryOutbox):
    """The event outbox fake (``InMemoryOutbox`` of ``Event``)."""


# --- builders shared by the outbox tests ---------------------------------------------

def outbox_event(i: int | str, prefix: str = "k", **fields: Any) -> Event:
    """Event ``login`` of customer ``acme`` with idempotency key ``<prefix>-<i>``."""
    return Event(event_name="login", key=CustomerKey("acme"), idempotency_key=f"{prefix}-{i}",
                 **fields)


def outbox_events(count: int, start: int = 0, prefix: str = "k") -> list[Event]:
    return [outbox_event(i, prefix) for i in range(start, start + count)]


def outbox_keys(items: Sequence[tuple[OutboxItemId, Event]]) -> list[str]:
    """Idempotency keys of peeked ``(id, event)`` items, in order."""
    return [e.idempotency_key for _, e in items]
