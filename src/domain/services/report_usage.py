"""ReportUsage and ReportUsageBulk: validate, key, chunk, send, apply to the cache."""
from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from typing import Callable, Sequence

from domain.model.budget import Budget
from domain.model.entitlement import Usage
from domain.model.reports import UsageAck, UsageReport, UsageTarget
from domain.model.validation import require_finite, require_id
from domain.services.write_context import WriteContext, check_dimensions, chunks
from ports.entitlement_cache import EntitlementCache
from ports.errors import CacheUnavailableError, PartialWriteError, UpstreamError
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
    """

    def __init__(
        self,
        reporter: UsageReporter,
        cache: EntitlementCache,
        context: WriteContext,
        new_key: Callable[[], str] = _new_key,
    ) -> None:
        self._reporter = reporter
        self._cache = cache
        self._ctx = context
        self._new_key = new_key

    async def execute(
        self, items: Sequence[UsageReport], deadline: Budget | None, *, field_prefix: str = ""
    ) -> list[UsageAck]:
        """Acks in request order. ``field_prefix`` is ``"usages"`` for the bulk RPC, so
        errors name ``usages[3].feature_id``; empty for the single RPC.

        Raises ``InvalidRequestError`` before any call if any item is invalid; an
        ``UpstreamError`` if the first chunk fails; ``PartialWriteError`` if a later one
        does.
        """
        for index, item in enumerate(items):
            self._validate(item, f"{field_prefix}[{index}]." if field_prefix else "")
        keyed = [replace(item, idempotency_key=self._new_key()) for item in items]
        acks: list[UsageAck] = []
        for chunk in chunks(keyed, MAX_USAGES_PER_MUTATION):
            try:
                chunk_acks = await self._reporter.report(chunk, self._ctx.budget(deadline))
            except UpstreamError as error:
                if acks:
                    raise PartialWriteError("ReportUsageBulk", len(acks), len(keyed), error) from error
                raise
            for ack in chunk_acks:
                await self._apply(ack)
            acks.extend(chunk_acks)
        return acks

    @staticmethod
    def _validate(item: UsageReport, prefix: str) -> None:
        require_id(f"{prefix}customer_id", item.key.customer_id)
        require_id(f"{prefix}resource_id", item.key.resource_id, required=False)
        require_id(f"{prefix}feature_id", item.feature_id)
        require_finite(f"{prefix}value", item.value)
        check_dimensions(f"{prefix}dimensions", item.dimensions)

    async def _apply(self, ack: UsageAck) -> None:
        """Set cached usage from upstream's answer, only for cached entries (§8)."""
        try:
            if ack.current_usage is not None:
                usage = Usage(
                    ack.current_usage,
                    ack.usage_period_start_ms,
                    ack.usage_period_end_ms,
                    ack.timestamp_ms or self._ctx.clock.now_ms(),
                )
                await self._cache.set_usage(ack.key, UsageTarget.FEATURE, ack.feature_id, usage)
            if ack.credit is not None:
                credit = ack.credit
                usage = Usage(
                    credit.current_usage,
                    None,
                    credit.usage_period_end_ms,
                    credit.timestamp_ms or self._ctx.clock.now_ms(),
                )
                await self._cache.set_usage(ack.key, UsageTarget.CREDIT, credit.currency_id, usage)
        except CacheUnavailableError as error:
            log.warning("cache usage update failed", extra={"error": str(error)})
