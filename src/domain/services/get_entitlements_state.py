"""Bulk reads: GetEntitlements (V1) and GetEntitlementsStateV2 (decision-rules.md §8.5)."""
from __future__ import annotations

from domain.model.answers import StateAnswer
from domain.model.budget import Budget
from domain.model.decide import fallback_list, state_answer
from domain.model.freshness import UNCHANGED, Freshness, Unchanged, state_answer_until
from domain.model.identifiers import CustomerKey
from domain.model.kinds import AccessDeniedReason
from domain.services.read_context import ReadContext


class GetEntitlementsState:
    """Every entitlement evaluated with nothing requested, after rollover; on a load
    failure or an empty customer id, the global fallback list (§9.5)."""

    def __init__(self, context: ReadContext) -> None:
        self._ctx = context

    async def execute(self, key: CustomerKey, deadline: Budget | None, *, rpc: str) -> StateAnswer:
        return (await self.answer(key, deadline, rpc=rpc))[0]

    async def answer(self, key: CustomerKey, deadline: Budget | None, *, rpc: str,
                     known: Freshness | None = None
                     ) -> tuple[StateAnswer | Unchanged, Freshness | None]:
        """The answer, and its freshness when it may be reused (``domain.model.freshness``):
        only answers from a trusted cache hit. ``known``: as
        ``CheckTypedEntitlement.answer``."""
        ctx = self._ctx
        if ctx.input_problem(rpc, key, known) is None:
            loaded = await ctx.load(key, deadline)
            if ctx.unchanged(known, loaded):
                return UNCHANGED, known
            if loaded is not None:
                answer = state_answer(loaded.entitlements, ctx.clock.now_ms())
                return answer, ctx.freshness(loaded, state_answer_until)
        ctx.count_fallback(rpc, False, AccessDeniedReason.UNKNOWN)
        return fallback_list(ctx.fallbacks), None
