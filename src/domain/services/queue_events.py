"""QueueEvents: ReportEvents in outbox mode: validate, then queue durably.

The RPC answers OK once the events are durably queued (on local disk, or in the Redis
stream in Redis mode); ``DeliverEvents`` sends them later. Any
number of events per call is accepted (the sender chunks by ≤ 1000).
"""
from __future__ import annotations

import logging
from typing import Callable, Sequence

from domain.model.budget import Budget
from domain.model.reports import Event
from domain.services.report_events import validate_events
from ports.event_outbox import EventOutbox, OutboxFullError

log = logging.getLogger("sidecar.outbox")


class QueueEvents:
    """``accepted`` / ``rejected`` count events queued and events refused because the
    outbox was full. ``on_queued`` (e.g. ``DeliverEvents.notify``) is called after each
    successful append."""

    def __init__(self, outbox: EventOutbox, on_queued: Callable[[], None] | None = None) -> None:
        self._outbox = outbox
        self._on_queued = on_queued
        self.accepted = 0
        self.rejected = 0

    async def execute(self, events: Sequence[Event], deadline: Budget | None) -> None:
        """Same call shape as ``ReportEvents.execute``; ``deadline`` is not needed (a local
        append). Raises ``InvalidRequestError`` or ``OutboxFullError`` (nothing of the call
        is queued), or ``OutboxUnavailableError`` (the storage is unreachable; the events
        may have been queued, so the caller retries with the same keys)."""
        validate_events(events)
        if not events:
            return
        try:
            await self._outbox.append(events)
        except OutboxFullError as error:
            self.rejected += len(events)
            log.warning("event outbox full; events refused", extra={
                "events": len(events), "used_bytes": error.used_bytes,
                "capacity_bytes": error.capacity_bytes})
            raise
        self.accepted += len(events)
        if self._on_queued is not None:
            self._on_queued()
