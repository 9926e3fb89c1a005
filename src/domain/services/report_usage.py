"""ReportUsage and ReportUsageBulk: validate, key, chunk, send (or buffer), apply to the cache."""
from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from typing import Callable, Sequence

from domain.model.budget import Budget
from domain.model.entitlement import Usage
from domain.model.reports import UsageAck, UsageReport, UsageTarget
from domain.model.validation import require_finite, require_id
from domain.services.buffer_usage import BufferUsage
from domain.services.write_context import WriteContext, check_dimensions, chunks
from ports.clock import Clock
from ports.entitlement_cache import EntitlementCache
from ports.errors import (
    CacheUnavailableError,
    PartialWriteError,
    UpstreamError,
    UpstreamUnavailableError,
)
from ports.event_outbox import OutboxFullError
from ports.usage_reporter import UsageReporter

log = logging.getLogger("sidecar.usage")

#: Documented upstream limit of one reportUsageBulk mutation (upstream-api.md §5.2).
MAX_USAGES_PER_MUTATION = 100


def _new_key() -> str:
    return str(uuid.uuid4())


class ReportUsage:
    """reference: upstream-api.md §5.1, §5.2, §8.

    Each item gets a fresh idempotency key before the first attempt (our choice), so
    retries never double count while two identical reports both count.

    With ``buffer`` (``USAGE_BUFFERING=true``, ours) a chunk whose send fails with
    ``UpstreamUnavailableError`` is accepted into the usage outbox instead and answered
    locally (``buffer_usage``); so is every later chunk of the same call, and any chunk
    with an item whose feature (same customer and resource) still has queued reports,
    so per-feature order is kept. A chunk is either sent or buffered as a whole. Other
    upstream errors (invalid input, not found, key rejected, rate limited, …) are never
    buffered. Without ``buffer`` the behaviour is the synchronous pass-through.
    """

    def __init__(
        self,
        reporter: UsageReporter,
        cache: EntitlementCache,
        context: WriteContext,
        new_key: Callable[[], str] = _new_key,
        buffer: BufferUsage | None = None,
    ) -> None:
        self._reporter = reporter
        self._cache = cache
        self._ctx = context
        self._new_key = new_key
        self._buffer = buffer

    async def execute(
        self, items: Sequence[UsageReport], deadline: Budget | None, *, field_prefix: str = ""
    ) -> list[UsageAck]:
        """Acks in request order. ``field_prefix`` is ``"usages"`` for the bulk RPC, so
        errors name ``usages[3].feature_id``; empty for the single RPC.

        Raises ``InvalidRequestError`` before any call if any item is invalid; an
        ``UpstreamError`` if the first chunk fails (and is not buffered);
        ``OutboxFullError`` if the first chunk was to be buffered but the usage outbox is
        full; ``PartialWriteError`` if a later chunk fails either way (its ``recorded``
        counts sent and buffered items).
        """
        accepted_ms = self._ctx.clock.now_ms()
        for index, item in enumerate(items):
            self._validate(item, f"{field_prefix}[{index}]." if field_prefix else "")
        keyed = [replace(item, idempotency_key=self._new_key()) for item in items]
        acks: list[UsageAck] = []
        buffering = False
        for chunk in chunks(keyed, MAX_USAGES_PER_MUTATION):
            buffer = self._buffer
            try:
                if buffer is not None and (buffering or buffer.holds_any(chunk)):
                    buffering = True
                    acks.extend(await buffer.accept(chunk, accepted_ms))
                    continue
                try:
                    chunk_acks = await self._reporter.report(chunk, self._ctx.budget(deadline))
                except UpstreamUnavailableError as error:
                    if buffer is None:
                        raise
                    log.warning("upstream unavailable; usage buffered", extra={
                        "usages": len(chunk), "error": f"{type(error).__name__}: {error}"})
                    buffering = True
                    acks.extend(await buffer.accept(chunk, accepted_ms))
                    continue
            except (UpstreamError, OutboxFullError) as error:
                if acks:
                    raise PartialWriteError("ReportUsageBulk", len(acks), len(keyed), error) from error
                raise
            for ack in chunk_acks:
                await apply_ack(self._cache, self._ctx.clock, ack)
            acks.extend(chunk_acks)
        return acks

    @staticmethod
    def _validate(item: UsageReport, prefix: str) -> None:
        require_id(f"{prefix}customer_id", item.key.customer_id)
        require_id(f"{prefix}resource_id", item.key.resource_id, required=False)
        require_id(f"{prefix}feature_id", item.feature_id)
        require_finite(f"{prefix}value", item.value)
        check_dimensions(f"{prefix}dimensions", item.dimensions)


async def apply_ack(cache: EntitlementCache, clock: Clock, ack: UsageAck) -> None:
    """Set cached usage from upstream's answer, only for cached entries (§8): the
    feature's usage when ``current_usage`` is not null, the wallet's when ``credit`` is
    set. A ``CacheUnavailableError`` is logged, never raised."""
    try:
        if ack.current_usage is not None:
            usage = Usage(
                ack.current_usage,
                ack.usage_period_start_ms,
                ack.usage_period_end_ms,
                ack.timestamp_ms or clock.now_ms(),
            )
            await cache.set_usage(ack.key, UsageTarget.FEATURE, ack.feature_id, usage)
        if ack.credit is not None:
            credit = ack.credit
            usage = Usage(
                credit.current_usage,
                None,
                credit.usage_period_end_ms,
                credit.timestamp_ms or clock.now_ms(),
            )
            await cache.set_usage(ack.key, UsageTarget.CREDIT, credit.currency_id, usage)
    except CacheUnavailableError as error:
        log.warning("cache usage update failed", extra={"error": str(error)})
