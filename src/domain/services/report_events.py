"""ReportEvents: validate, chunk by 1000, send (upstream-api.md §5.3)."""
from __future__ import annotations

import json
from typing import Sequence

from domain.model.budget import Budget
from domain.model.errors import InvalidRequestError
from domain.model.reports import Event
from domain.model.validation import require_id
from domain.services.write_context import WriteContext, check_dimensions, chunks
from ports.errors import PartialWriteError, UpstreamError
from ports.usage_reporter import EventReporter

#: Documented upstream limits (upstream-api.md §5.3).
MAX_EVENTS_PER_MUTATION = 1000
MAX_EVENT_BYTES = 1_000_000


def _encoded_size(event: Event) -> int:
    body = {"eventName": event.event_name, "customerId": event.key.customer_id,
            "resourceId": event.key.resource_id, "idempotencyKey": event.idempotency_key,
            "dimensions": event.dimensions}
    return len(json.dumps(body, ensure_ascii=False).encode())


def validate_events(events: Sequence[Event]) -> None:
    """Check every event before any is sent or queued (any number of events is fine:
    senders chunk). Raises ``InvalidRequestError`` naming the first bad field, e.g.
    ``events[3].idempotency_key``."""
    for index, event in enumerate(events):
        prefix = f"events[{index}]."
        require_id(f"{prefix}event_name", event.event_name)
        require_id(f"{prefix}customer_id", event.key.customer_id)
        require_id(f"{prefix}resource_id", event.key.resource_id, required=False)
        require_id(f"{prefix}idempotency_key", event.idempotency_key)
        check_dimensions(f"{prefix}dimensions", event.dimensions, max_text=None)
        if _encoded_size(event) > MAX_EVENT_BYTES:
            raise InvalidRequestError(prefix.rstrip("."), "is larger than 1 MB encoded")


class ReportEvents:
    """Events have no cache side effects; upstream deduplicates the caller's keys, so a
    resend after a partial failure is safe."""

    def __init__(self, reporter: EventReporter, context: WriteContext) -> None:
        self._reporter = reporter
        self._ctx = context

    async def execute(self, events: Sequence[Event], deadline: Budget | None) -> None:
        """Raises ``InvalidRequestError`` (nothing sent), ``UpstreamError`` or
        ``PartialWriteError``."""
        validate_events(events)
        sent = 0
        for chunk in chunks(list(events), MAX_EVENTS_PER_MUTATION):
            try:
                await self._reporter.report(chunk, self._ctx.budget(deadline))
            except UpstreamError as error:
                if sent:
                    raise PartialWriteError("ReportEvents", sent, len(events), error) from error
                raise
            sent += len(chunk)
