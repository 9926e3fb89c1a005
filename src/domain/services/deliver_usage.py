"""UsageBatches: how buffered usage (``USAGE_BUFFERING=true``) reaches the upstream.

The strategy of a ``DeliverOutbox`` over the usage outbox: chunks of ≤ 100 items, oldest
first, through the ``UsageReporter`` with the idempotency keys fixed at acceptance, so
a resend after a crash or a lost answer counts once upstream. Each real acknowledgement
is applied to the cache as a synchronous report's is (upstream-api.md §8: the cached
usage is *set* to upstream's number), replacing the local estimate ``BufferUsage`` wrote.
"""
from __future__ import annotations

from typing import Any, Sequence

from domain.model.budget import Budget
from domain.model.reports import UsageReport
from domain.services.buffer_usage import BufferUsage, local_measurement_id
from domain.services.deliver_events import BatchSender, DeliverOutbox
from domain.services.report_usage import MAX_USAGES_PER_MUTATION, apply_ack
from domain.services.write_context import WriteContext
from ports.clock import Clock
from ports.entitlement_cache import EntitlementCache
from ports.event_outbox import UsageOutbox
from ports.usage_reporter import UsageReporter


class UsageBatches(BatchSender[UsageReport]):
    """Buffered usage through ``reporter``; acks applied to ``cache``; ``buffer`` told
    what left the outbox (so it stops holding later reports back)."""

    name = "usage"
    one = "a buffered usage report"
    max_batch = MAX_USAGES_PER_MUTATION

    def __init__(self, reporter: UsageReporter, cache: EntitlementCache, clock: Clock,
                 buffer: BufferUsage | None = None) -> None:
        self._reporter = reporter
        self._cache = cache
        self._clock = clock
        self._buffer = buffer

    async def send(self, items: Sequence[UsageReport], budget: Budget) -> None:
        """One ``reportUsageBulk`` mutation; raises an ``UpstreamError`` subclass."""
        acks = await self._reporter.report(items, budget)
        for ack in acks:
            await apply_ack(self._cache, self._clock, ack)

    def describe(self, item: UsageReport) -> dict[str, Any]:
        return {"idempotency_key": item.idempotency_key,
                "measurement_id": local_measurement_id(item.idempotency_key),
                "customer_id": item.key.customer_id, "resource_id": item.key.resource_id,
                "feature_id": item.feature_id, "value": item.value}

    def delivered(self, items: Sequence[UsageReport]) -> None:
        if self._buffer is not None:
            self._buffer.handled(items)

    def dropped(self, item: UsageReport) -> None:
        if self._buffer is not None:
            self._buffer.handled([item])


class DeliverUsage(DeliverOutbox[UsageReport]):
    """The sender of the usage outbox: ``DeliverOutbox`` with ``UsageBatches``.

    With ``buffer`` (the ``BufferUsage`` that fills the outbox) the two are wired both
    ways: the buffer's ``on_queued`` becomes this sender's ``notify``, and the buffer is
    told whenever items leave the outbox.
    """

    def __init__(self, outbox: UsageOutbox, reporter: UsageReporter, cache: EntitlementCache,
                 context: WriteContext, buffer: BufferUsage | None = None,
                 **options: Any) -> None:
        super().__init__(outbox, UsageBatches(reporter, cache, context.clock, buffer), context,
                         **options)
        if buffer is not None:
            buffer.on_queued = self.notify
