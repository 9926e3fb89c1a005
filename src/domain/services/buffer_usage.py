"""BufferUsage: ReportUsage items accepted into the usage outbox (``USAGE_BUFFERING=true``).

Used by ``ReportUsage`` when the upstream is unreachable (``UpstreamUnavailableError``:
connection failure, timeout or exhausted budget, HTTP 5xx, ``OperationTimeout``) and
when earlier reports for the same (customer, resource, feature) are still queued (so
they stay in order). ``UsageBatches`` (``deliver_usage``) delivers them later with the
same idempotency keys.

The local answer (our choice) is *not* billing truth, only the sidecar's best estimate:

- ``measurement_id`` = ``local-<idempotency key>`` (``LOCAL_MEASUREMENT_PREFIX``): never
  an upstream id, and it names the key the later delivery carries.
- ``current_usage``: SET → the value; DELTA (or unspecified) → the cached entitlement's
  current usage after rollover (decision-rules.md §4) plus the value, or **unset** when
  the (customer, resource) entry or the feature is not cached.
- ``usage_period_start`` / ``usage_period_end``: the cached period (after rollover), or
  unset when not cached.
- The same value is written to the cached usage (only existing entries, the ordering
  rule on the usage timestamp, which is now), so a following check reflects it. When
  the real acknowledgement arrives, ``UsageBatches`` sets the cache from upstream's
  number, exactly as a synchronous report does (upstream-api.md §8): it includes other
  sidecars' reports and may differ from the local answer.
- Credits (``credit`` of an upstream ack) are not estimated locally; the wallet changes
  when the real acknowledgement arrives.
"""
from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import replace
from typing import Callable, Sequence

from domain.model.entitlement import Usage
from domain.model.identifiers import CustomerKey
from domain.model.kinds import UsageUpdateBehavior
from domain.model.reports import UsageAck, UsageReport, UsageTarget
from domain.model.usage_period import effective_usage
from ports.clock import Clock
from ports.entitlement_cache import EntitlementCache
from ports.errors import CacheUnavailableError
from ports.event_outbox import OutboxFullError, UsageOutbox

log = logging.getLogger("sidecar.usage")

#: Prefix of every locally made measurement id: ``local-<idempotency key>``.
LOCAL_MEASUREMENT_PREFIX = "local-"

_Target = tuple[CustomerKey, str]


def local_measurement_id(idempotency_key: str) -> str:
    """The measurement id answered for a buffered item: ``local-<idempotency key>``."""
    return f"{LOCAL_MEASUREMENT_PREFIX}{idempotency_key}"


class BufferUsage:
    """Accepts usage items into ``outbox`` and answers them locally (module docstring).

    Keeps, in memory, how many queued items each (customer key, feature id) has, so
    ``ReportUsage`` can keep later reports behind earlier queued ones. Items recovered
    from a previous run (``outbox.depth()`` when this is built, before any append) have
    unknown targets until delivered, so until then every report counts as having queued
    predecessors. Counters (telemetry): ``accepted`` items queued, ``rejected`` items
    refused because the outbox was full. ``on_queued`` (e.g. ``DeliverOutbox.notify``;
    ``DeliverUsage`` sets it) is called after each append.
    """

    def __init__(
        self,
        outbox: UsageOutbox,
        cache: EntitlementCache,
        clock: Clock,
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        self._outbox = outbox
        self._cache = cache
        self._clock = clock
        self.on_queued = on_queued
        self._pending: Counter[_Target] = Counter()
        self._recovered_left = outbox.depth()
        self._lock = asyncio.Lock()
        self.accepted = 0
        self.rejected = 0

    def holds_any(self, items: Sequence[UsageReport]) -> bool:
        """Whether any of ``items`` targets a feature with reports still queued (or
        recovered ones not yet delivered)."""
        if self._recovered_left > 0:
            return True
        return any(self._pending[(item.key, item.feature_id)] > 0 for item in items)

    async def accept(self, items: Sequence[UsageReport], accepted_ms: int) -> list[UsageAck]:
        """Queue ``items`` (all or none, in order, keys kept) and answer each locally.

        ``accepted_ms`` (epoch ms) becomes the timestamp of items that have none.
        Raises ``OutboxFullError`` (``what="usage outbox"``) when over capacity; then
        nothing is queued and the cache is unchanged.
        """
        stamped = [item if item.timestamp_ms is not None else replace(item, timestamp_ms=accepted_ms)
                   for item in items]
        async with self._lock:  # local answers build on each other: one accept at a time
            # Counted before the append, so a delivery racing the append's return
            # cannot be uncounted first.
            targets = [(item.key, item.feature_id) for item in stamped]
            self._pending.update(targets)
            try:
                await self._outbox.append(stamped)
            except OutboxFullError as error:
                self._pending.subtract(targets)
                self._pending += Counter()  # drop zero counts
                self.rejected += len(stamped)
                log.warning("usage outbox full; usage reports refused", extra={
                    "usages": len(stamped), "used_bytes": error.used_bytes,
                    "capacity_bytes": error.capacity_bytes})
                raise OutboxFullError(error.capacity_bytes, error.used_bytes,
                                      error.requested_bytes, what="usage outbox") from error
            except BaseException:
                self._pending.subtract(targets)
                self._pending += Counter()
                raise
            self.accepted += len(stamped)
            acks = [await self._answer(item) for item in stamped]
        if self.on_queued is not None:
            self.on_queued()
        return acks

    def handled(self, items: Sequence[UsageReport]) -> None:
        """The sender acknowledged these items (delivered or dropped), oldest first."""
        for item in items:
            if self._recovered_left > 0:
                self._recovered_left -= 1
                continue
            target = (item.key, item.feature_id)
            if self._pending[target] <= 1:
                self._pending.pop(target, None)
            else:
                self._pending[target] -= 1

    async def _answer(self, item: UsageReport) -> UsageAck:
        """The local ack of one queued item; writes its usage to the cache when cached."""
        now = self._clock.now_ms()
        is_set = item.update_behavior is UsageUpdateBehavior.SET
        current: float | None = item.value if is_set else None
        start = end = None
        try:
            entry = await self._cache.get(item.key)
            entitlement = entry.entitlements.feature(item.feature_id) if entry else None
            if entitlement is not None:
                usage = effective_usage(entitlement, now)
                current = item.value if is_set else usage.current_usage + item.value
                start, end = usage.period_start_ms, usage.period_end_ms
                await self._cache.set_usage(item.key, UsageTarget.FEATURE, item.feature_id,
                                            Usage(current, start, end, now))
        except CacheUnavailableError as error:
            log.warning("cache usage update failed", extra={"error": str(error)})
        return UsageAck(
            measurement_id=local_measurement_id(item.idempotency_key), key=item.key,
            feature_id=item.feature_id, current_usage=current, usage_period_start_ms=start,
            usage_period_end_ms=end, timestamp_ms=item.timestamp_ms)
