"""GetEntitlementV2: one feature or one credit wallet, chosen by the request (§8.4)."""
from __future__ import annotations

import logging

from domain.model.answers import CreditAnswer, FeatureAnswer
from domain.model.budget import Budget
from domain.model.decide import FeatureQuery, invalid_feature_answer
from domain.model.freshness import Freshness, Unchanged
from domain.model.identifiers import CustomerKey
from domain.model.kinds import FeatureKind
from domain.services.check_entitlement import CheckCredit, CheckEntitlement
from domain.services.read_context import ReadContext

log = logging.getLogger("sidecar.check")
RPC = "GetEntitlementV2"


class CheckEntitlementV2:
    """Exactly one of ``feature_id`` and ``currency_id`` must be non-empty; otherwise the
    answer is a fallback with no upstream call and no error (reference behaviour,
    4.55.0 ``validateGetEntitlementV2Params``)."""

    def __init__(
        self, context: ReadContext, features: CheckEntitlement, credits: CheckCredit
    ) -> None:
        self._ctx = context
        self._features = features
        self._credits = credits

    async def execute(
        self,
        key: CustomerKey,
        query: FeatureQuery,
        currency_id: str,
        deadline: Budget | None,
    ) -> FeatureAnswer | CreditAnswer:
        return (await self.answer(key, query, currency_id, deadline))[0]

    async def answer(
        self,
        key: CustomerKey,
        query: FeatureQuery,
        currency_id: str,
        deadline: Budget | None,
        known: Freshness | None = None,
    ) -> tuple[FeatureAnswer | CreditAnswer | Unchanged, Freshness | None]:
        """As ``CheckTypedEntitlement.answer``."""
        feature_id = query.feature_id
        if bool(feature_id) != bool(currency_id):
            if currency_id:
                return await self._credits.answer(
                    key, currency_id, query.requested_usage, query.fallback, deadline, known
                )
            return await self._features.answer(key, query, deadline, rpc=RPC, known=known)
        log.error(
            "GetEntitlementV2 needs exactly one of feature_id and currency_id",
            extra={"rpc": RPC, "feature_id": feature_id, "currency_id": currency_id},
        )
        self._ctx.telemetry.invalid_request("feature_id" if feature_id else "currency_id")
        # Both ids: a fallback for the feature; neither: a boolean one for feature "".
        kind = None if feature_id else FeatureKind.BOOLEAN
        answer = invalid_feature_answer(query, self._ctx.fallbacks, kind)
        self._ctx.count_fallback(RPC, answer.has_access, answer.reason)
        return answer, None
