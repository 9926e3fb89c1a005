"""DeliverOutbox: an outbox's sender. Peek the oldest items, send them, acknowledge.

One sender serves one outbox; what a batch is and how it is sent is its ``BatchSender``
strategy: ``EventBatches`` (``DeliverEvents``, ReportEvents' outbox) or ``UsageBatches``
(``deliver_usage``, buffered usage). At least once: items are acknowledged only after
the upstream accepted them, so a crash between the two resends them, and the upstream
deduplicates on ``idempotency_key``. Items go out oldest first, in append order.
A failure the upstream may get over (unavailable, rate limited, key rejected, anything
unclassified) is retried with capped exponential backoff and jitter, forever while
running. Input the upstream refuses (``UpstreamInvalidInputError``,
``UpstreamNotFoundError``) is split in halves until the refused items are isolated;
each is then dropped, logged with its key and counted in ``rejections``, so one bad
item cannot block the queue.
"""
from __future__ import annotations

import asyncio
import logging
import random as _random
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Generic, Sequence, TypeVar

from domain.model.budget import Budget
from domain.model.reports import Event
from domain.services.report_events import MAX_EVENTS_PER_MUTATION
from domain.services.write_context import WriteContext
from ports.errors import UpstreamError, UpstreamInvalidInputError, UpstreamNotFoundError
from ports.event_outbox import EventOutbox, Outbox, OutboxItemId
from ports.usage_reporter import EventReporter

log = logging.getLogger("sidecar.outbox")

Item = TypeVar("Item")

_REFUSED = (UpstreamInvalidInputError, UpstreamNotFoundError)
#: Largest stored size of one batch, bytes (our choice: the inbound message limit, so
#: a batch is never bigger than a request the sender accepts).
DEFAULT_BATCH_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Wait before retry ``n`` (0-based): uniform in [cap/2, cap], cap = min(max_s,
    initial_s · 2^n) seconds."""

    initial_s: float = 0.5
    max_s: float = 30.0

    def delay_s(self, retry: int, unit_random: float) -> float:
        cap = min(self.max_s, self.initial_s * 2 ** min(retry, 60))
        return cap / 2 + cap / 2 * unit_random


class BatchSender(Generic[Item]):
    """The strategy of one outbox's sender.

    ``name`` ("event", "usage") prefixes log lines and ``one`` names one item in them
    ("an event"); ``max_batch`` is the most items one
    mutation may carry. ``send`` raises an ``UpstreamError`` subclass (nothing of the
    batch is then acknowledged). ``describe`` gives the log fields naming one item;
    ``delivered`` / ``dropped`` are told after items were acknowledged (default: nothing).
    """

    name = "item"
    one = "an item"
    max_batch = 1

    async def send(self, items: Sequence[Item], budget: Budget) -> None:
        raise NotImplementedError

    def describe(self, item: Item) -> dict[str, Any]:
        return {}

    def delivered(self, items: Sequence[Item]) -> None:
        """These items were accepted upstream and acknowledged, in order."""

    def dropped(self, item: Item) -> None:
        """This item was refused upstream and acknowledged (dropped)."""


class EventBatches(BatchSender[Event]):
    """Events through ``EventReporter`` (≤ 1000 per mutation)."""

    name = "event"
    one = "an event"
    max_batch = MAX_EVENTS_PER_MUTATION

    def __init__(self, reporter: EventReporter) -> None:
        self._reporter = reporter

    async def send(self, items: Sequence[Event], budget: Budget) -> None:
        await self._reporter.report(items, budget)

    def describe(self, item: Event) -> dict[str, Any]:
        return {"idempotency_key": item.idempotency_key, "event_name": item.event_name,
                "customer_id": item.key.customer_id}


class DeliverOutbox(Generic[Item]):
    """Counters (read by telemetry): ``deliveries`` items the upstream accepted,
    ``retries`` failed sends that will be retried, ``rejections`` items the upstream
    refused and that were dropped, ``failing`` consecutive failed sends now.

    ``batch_size`` defaults to (and may not exceed) ``sender.max_batch``. ``sleep`` and
    ``random`` are injectable for tests; ``idle_s`` is how long ``run`` waits for
    ``notify`` before looking again when the outbox is empty.
    """

    def __init__(
        self,
        outbox: Outbox[Item],
        sender: BatchSender[Item],
        context: WriteContext,
        *,
        batch_size: int | None = None,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
        retry: RetryPolicy = RetryPolicy(),
        idle_s: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        random: Callable[[], float] = _random.random,
    ) -> None:
        batch_size = sender.max_batch if batch_size is None else batch_size
        if not 1 <= batch_size <= sender.max_batch:
            raise ValueError(f"batch_size must be 1-{sender.max_batch}, got {batch_size}")
        self._outbox = outbox
        self._sender = sender
        self._name = sender.name
        self._ctx = context
        self._batch_size = batch_size
        self._batch_bytes = batch_bytes
        self._retry = retry
        self._idle_s = idle_s
        self._sleep = sleep
        self._random = random
        self._wake = asyncio.Event()
        self._sending = asyncio.Lock()
        self.deliveries = 0
        self.retries = 0
        self.rejections = 0
        self.failing = 0

    def notify(self) -> None:
        """New items were queued: end an idle wait now."""
        self._wake.set()
    async def run(self) -> None:
        """Deliver until cancelled. Cancelling mid-send leaves that batch queued."""
        while True:
            self._wake.clear()
            try:
                sent = await self.deliver_batch(None)
            except Exception as error:  # noqa: BLE001 - the sender must outlive any failure
                await self._sleep(self._failed(error))
                continue
            self._recovered()
            if not sent:
                try:
                    await asyncio.wait_for(self._wake.wait(), self._idle_s)
                except TimeoutError:
                    pass

    async def flush(self, deadline: Budget) -> int:
        """Deliver until the outbox is empty or ``deadline`` (monotonic) passes, retrying
        failures meanwhile; returns the items left queued (they stay persisted)."""
        clock = self._ctx.clock
        while (remaining := deadline.remaining(clock.monotonic())) > 0:
            try:
                sent = await asyncio.wait_for(self.deliver_batch(deadline), remaining)
            except TimeoutError:
                break
            except Exception as error:  # noqa: BLE001 - keep trying until the deadline
                pause = min(self._failed(error), deadline.remaining(clock.monotonic()))
                if pause > 0:
                    await self._sleep(pause)
                continue
            self._recovered()
            if not sent:
                break
        left = self._outbox.depth()
        if left:
            log.warning(f"{self._name} outbox not empty at shutdown; kept for the next start",
                        extra={"depth": left, "deliveries": self.deliveries})
        else:
            log.info(f"{self._name} outbox flushed", extra={"deliveries": self.deliveries})
        return left

    async def deliver_batch(self, deadline: Budget | None) -> int:
        """Send one batch of the oldest items; the number handled (delivered or
        rejected), 0 when the outbox is empty. Raises ``UpstreamError`` (nothing of the
        failing part acknowledged) or the outbox's errors."""
        async with self._sending:
            items = await self._outbox.peek(self._batch_size, max_bytes=self._batch_bytes)
            if items:
                await self._send(items, deadline)
            return len(items)

    async def _send(self, items: list[tuple[OutboxItemId, Item]], deadline: Budget | None) -> None:
        try:
            await self._sender.send([item for _, item in items], self._ctx.budget(deadline))
        except _REFUSED as error:
            if len(items) > 1:
                middle = len(items) // 2
                await self._send(items[:middle], deadline)
                await self._send(items[middle:], deadline)
                return
            await self._outbox.acknowledge([items[0][0]])
            self.rejections += 1
            item = items[0][1]
            self._sender.dropped(item)
            log.error(f"upstream refused {self._sender.one}; dropped", extra={
                **self._sender.describe(item), "error": f"{type(error).__name__}: {error}"})
            return
        await self._outbox.acknowledge([item_id for item_id, _ in items])
        self.deliveries += len(items)
        self._sender.delivered([item for _, item in items])

    def _failed(self, error: Exception) -> float:
        """Count a failed send; the backoff before the next one (seconds)."""
        delay = self._retry.delay_s(self.failing, self._random())
        self.retries += 1
        self.failing += 1
        extra = {"error": f"{type(error).__name__}: {error}", "failing": self.failing,
                 "retry_in_s": round(delay, 3), "depth": self._outbox.depth()}
        if not isinstance(error, UpstreamError):
            log.error(f"{self._name} outbox failure; retrying", exc_info=error, extra=extra)
        elif self.failing == 1 or self.failing % 10 == 0:
            log.warning(f"{self._name} delivery failed; retrying", extra=extra)
        return delay

    def _recovered(self) -> None:
        if self.failing:
            log.info(f"{self._name} delivery recovered", extra={"after_failures": self.failing,
                                                        "depth": self._outbox.depth()})
            self.failing = 0


class DeliverEvents(DeliverOutbox[Event]):
    """The sender of ReportEvents' outbox: ``DeliverOutbox`` with ``EventBatches``."""

    def __init__(self, outbox: EventOutbox, reporter: EventReporter, context: WriteContext,
                 **options: Any) -> None:
        super().__init__(outbox, EventBatches(reporter), context, **options)
