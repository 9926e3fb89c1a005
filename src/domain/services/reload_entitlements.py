"""ReloadEntitlements: a consistent fetch written to the cache (decision-rules.md §8.6)."""
from __future__ import annotations

import logging

from domain.model.budget import Budget
from domain.model.identifiers import CustomerKey
from domain.model.kinds import AccessDeniedReason
from domain.model.validation import id_problem
from ports.entitlement_cache import EntitlementCache
from ports.entitlement_source import EntitlementSource
from ports.errors import (
    CacheUnavailableError,
    SourceOfflineError,
    UpstreamAuthError,
    UpstreamError,
)
from ports.telemetry import Telemetry
from domain.services.read_context import ReadContext

log = logging.getLogger("sidecar.reload")


class ReloadEntitlements:
    """Always a consistent (GraphQL) fetch, never Edge: Edge may lag a write just made."""

    def __init__(
        self,
        context: ReadContext,
        cache: EntitlementCache,
        source: EntitlementSource,
        telemetry: Telemetry,
    ) -> None:
        self._ctx = context
        self._cache = cache
        self._source = source
        self._telemetry = telemetry

    async def execute(self, key: CustomerKey, deadline: Budget | None) -> bool:
        """``entitled_entity_exists``: false for ``CustomerNotFound``, a failed fetch or an
        empty customer id (no upstream call); true otherwise."""
        if id_problem(key.customer_id, required=True) or id_problem(key.resource_id, required=False):
            return False
        token = self._cache.fetch_token()
        try:
            fetched = await self._source.fetch(
                key, consistent=True, budget=self._ctx.budget(deadline)
            )
        except SourceOfflineError:
            return True  # OFFLINE: reference behaviour (decision-rules.md §8.6)
        except UpstreamError as error:
            self._telemetry.upstream_error(auth=isinstance(error, UpstreamAuthError))
            log.warning("reload failed", extra={"customer_id": key.customer_id,
                                                "error": f"{type(error).__name__}: {error}"})
            return False
        try:
            await self._cache.put(fetched, token)
        except CacheUnavailableError as error:
            log.warning("cache write failed", extra={"error": str(error)})
        return fetched.customer_reason is not AccessDeniedReason.CUSTOMER_NOT_FOUND
