"""Stigg GraphQL over HTTP: consistent reads, usage and event writes, the key check.

reference: upstream-api.md §3.2, §4, §5, §6, §7. Every call goes to ``{api_url}/graphql``
through ``StiggHttp`` (budgeted retries, error classification). All raise an
``UpstreamError`` subclass on failure and never run past their ``Budget``.
"""
from __future__ import annotations

import asyncio
import logging
import random
from typing import Any, Awaitable, Callable, Mapping, Sequence

import httpx

from adapters.outbound import stigg_documents as docs
from adapters.outbound.stigg_http import StiggHttp
from adapters.outbound.stigg_payloads import entitlements_state_from, iso_utc, read_usage_ack
from domain.model.budget import Budget
from domain.model.entitlement import EntitlementSet
from domain.model.identifiers import CustomerKey
from domain.model.reports import Event, UsageAck, UsageReport
from ports.clock import Clock
from ports.entitlement_source import EntitlementSource
from ports.errors import UpstreamAuthError, UpstreamError, UpstreamRejectedError
from ports.telemetry import Telemetry
from ports.usage_reporter import EventReporter, UsageReporter

log = logging.getLogger("sidecar.upstream.graphql")


class _GraphqlClient:
    """Constructor shared by the GraphQL adapters; ``sleep`` and ``uniform`` are for tests."""

    def __init__(
        self, transport: httpx.AsyncBaseTransport, *, api_url: str, api_key: str, instance_id: str,
        user_agent: str, clock: Clock, telemetry: Telemetry,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self._url = api_url.rstrip("/") + "/graphql"
        self._clock = clock
        self._telemetry = telemetry
        self._http = StiggHttp(transport, api_key=api_key, instance_id=instance_id,
                               user_agent=user_agent, clock=clock, sleep=sleep, uniform=uniform)

    async def _mutate(self, document: str, operation: str, variables: Mapping[str, Any],
                      budget: Budget) -> Mapping[str, Any]:
        """A write: its final failure is counted once here (use cases do not count writes)."""
        try:
            return await self._http.graphql(self._url, document, operation, variables, budget)
        except UpstreamError as error:
            self._telemetry.upstream_error(auth=isinstance(error, UpstreamAuthError))
            raise


class GraphqlEntitlementSource(_GraphqlClient, EntitlementSource):
    """``entitlementsState`` over GraphQL: always the latest state, so ``consistent`` is moot.

    Failures are not counted here: the read use cases count failed fetches.
    """

    async def fetch(self, key: CustomerKey, *, consistent: bool, budget: Budget) -> EntitlementSet:
        query: dict[str, str] = {"customerId": key.customer_id}
        if key.resource_id:
            query["resourceId"] = key.resource_id
        data = await self._http.graphql(self._url, docs.GET_ENTITLEMENTS_STATE,
                                        docs.GET_ENTITLEMENTS_STATE_OPERATION, {"query": query}, budget)
        return entitlements_state_from(data, key, self._clock.now_ms())


def _common_input(key: CustomerKey, idempotency_key: str, dimensions: Mapping[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {"customerId": key.customer_id, "idempotencyKey": idempotency_key}
    if key.resource_id:
        fields["resourceId"] = key.resource_id
    if dimensions:
        fields["dimensions"] = dict(dimensions)
    return fields


def usage_input(item: UsageReport) -> dict[str, Any]:
    """``ReportUsageBaseInput`` for one item (§5.1): optional fields omitted when unset."""
    fields = _common_input(item.key, item.idempotency_key, item.dimensions)
    fields |= {"featureId": item.feature_id, "value": item.value}
    if item.update_behavior is not None:
        fields["updateBehavior"] = item.update_behavior.value
    if item.timestamp_ms is not None:
        fields["createdAt"] = iso_utc(item.timestamp_ms)
    return fields


def event_input(event: Event) -> dict[str, Any]:
    """``UsageEventReportInput`` for one event (§5.3); its time field is ``timestamp``."""
    fields = _common_input(event.key, event.idempotency_key, event.dimensions)
    fields["eventName"] = event.event_name
    if event.timestamp_ms is not None:
        fields["timestamp"] = iso_utc(event.timestamp_ms)
    return fields


class GraphqlUsageReporter(_GraphqlClient, UsageReporter):
    """``reportUsage`` for one item, ``reportUsageBulk`` for more; acks in request order.

    Retries resend the same body, so each item's idempotency key is reused.
    """

    async def report(self, items: Sequence[UsageReport], budget: Budget) -> list[UsageAck]:
        if not items:
            return []
        if len(items) == 1:
            data = await self._mutate(docs.REPORT_USAGE, docs.REPORT_USAGE_OPERATION,
                                      {"input": usage_input(items[0])}, budget)
            raw: Any = [data.get("reportUsage")]
        else:
            data = await self._mutate(docs.REPORT_USAGE_BULK, docs.REPORT_USAGE_BULK_OPERATION,
                                      {"input": {"usages": [usage_input(i) for i in items]}}, budget)
            raw = data.get("reportUsageBulk")
        if not isinstance(raw, list) or not all(isinstance(m, Mapping) for m in raw):
            # The mutation was accepted; only its answer is unreadable.
            error = UpstreamRejectedError("malformed response: no usage measurements")
            self._telemetry.upstream_error(auth=False)
            raise error
        if len(raw) != len(items):
            log.warning("usage acks do not match the items sent",
                        extra={"sent": len(items), "acked": len(raw)})
        return [read_usage_ack(m, item.key, item.feature_id) for m, item in zip(raw, items)]


class GraphqlEventReporter(_GraphqlClient, EventReporter):
    """``reportEvent`` with ``{"usageEvents": [...]}``; the scalar answer is ignored."""

    async def report(self, events: Sequence[Event], budget: Budget) -> None:
        if not events:
            return
        await self._mutate(docs.REPORT_EVENT, docs.REPORT_EVENT_OPERATION,
                           {"input": {"usageEvents": [event_input(e) for e in events]}}, budget)


class GraphqlKeyCheck(_GraphqlClient):
    """The startup key check (§4): ``sdkConfiguration { isWidgetWatermarkEnabled }``.

    Not counted here: the startup code counts key rejections and initialisation errors.
    """

    async def check(self, budget: Budget) -> None:
        """Returns if the key is accepted; raises ``UpstreamAuthError`` if it is rejected,
        another ``UpstreamError`` subclass for any other failure."""
        await self._http.graphql(self._url, docs.SDK_CONFIGURATION,
                                 docs.SDK_CONFIGURATION_OPERATION, {}, budget)
