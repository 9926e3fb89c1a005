"""Stigg Edge: the read-only CDN copy of ``entitlementsState`` (upstream-api.md §3.3).

``GET {edge_url}/v1/c/{customerId}/entitlements-state.json[?resourceId=…]``. The
customer id is percent-encoded as one path segment (our choice, §1). Edge lags behind
writes, so it never serves consistent reads.
"""
from __future__ import annotations

import asyncio
import random
from typing import Any, Awaitable, Callable
from urllib.parse import quote

import httpx

from adapters.outbound.stigg_http import StiggHttp
from adapters.outbound.stigg_payloads import entitlements_state_from
from domain.model.budget import Budget
from domain.model.entitlement import EntitlementSet
from domain.model.identifiers import CustomerKey
from ports.clock import Clock
from ports.entitlement_source import EntitlementSource
from ports.telemetry import Telemetry


class EdgeEntitlementSource(EntitlementSource):
    """Cache-miss reads from Edge. ``telemetry`` is accepted for uniform wiring but unused:
    the read use cases count failed fetches. ``sleep``/``uniform`` are for tests."""

    def __init__(
        self, transport: httpx.AsyncBaseTransport, *, edge_url: str, api_key: str, instance_id: str,
        user_agent: str, clock: Clock, telemetry: Telemetry,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self._base = edge_url.rstrip("/")
        self._clock = clock
        self._http = StiggHttp(transport, api_key=api_key, instance_id=instance_id,
                               user_agent=user_agent, clock=clock, sleep=sleep, uniform=uniform)

    def url(self, customer_id: str) -> str:
        return f"{self._base}/v1/c/{quote(customer_id, safe='')}/entitlements-state.json"

    async def fetch(self, key: CustomerKey, *, consistent: bool, budget: Budget) -> EntitlementSet:
        """Raises ``ValueError`` for ``consistent=True`` (a wiring bug: route those to
        GraphQL), else an ``UpstreamError`` subclass on failure."""
        if consistent:
            raise ValueError("Edge cannot serve consistent reads; route them to GraphQL")
        params = {"resourceId": key.resource_id} if key.resource_id else None
        data = await self._http.get(self.url(key.customer_id), "Edge", budget, params)
        return entitlements_state_from(data, key, self._clock.now_ms())
