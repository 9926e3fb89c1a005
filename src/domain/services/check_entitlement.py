"""Single-entitlement checks: typed, generic and V2 (feature or credit)."""
from __future__ import annotations

import logging
from typing import Callable

from domain.model.answers import CreditAnswer, FeatureAnswer
from domain.model.budget import Budget
from domain.model.decide import (
    FeatureQuery,
    credit_answer,
    generic_answer,
    invalid_feature_answer,
    typed_answer,
)
from domain.model.entitlement import EntitlementSet, is_expired
from domain.model.fallback import FallbackValues
from domain.model.freshness import (
    UNCHANGED,
    Freshness,
    Unchanged,
    credit_answer_until,
    feature_answer_until,
)
from domain.model.identifiers import CustomerKey
from domain.model.kinds import FeatureKind
from domain.services.load_entitlements import ExpiryCheck
from domain.services.read_context import ReadContext

log = logging.getLogger("sidecar.check")

TYPED_RPC_NAMES = {
    FeatureKind.BOOLEAN: "GetBooleanEntitlement",
    FeatureKind.NUMERIC: "GetNumericEntitlement",
    FeatureKind.METERED: "GetMeteredEntitlement",
    FeatureKind.ENUM: "GetEnumEntitlement",
}


def feature_expired(feature_id: str) -> ExpiryCheck:
    """Single lookups check only the entitlement they answer about (§6)."""

    def check(entitlements: EntitlementSet, now_ms: int) -> bool:
        entitlement = entitlements.feature(feature_id)
        return entitlement is not None and is_expired(entitlement.valid_until_ms, now_ms)

    return check


def credit_expired(currency_id: str) -> ExpiryCheck:
    def check(entitlements: EntitlementSet, now_ms: int) -> bool:
        credit = entitlements.credit(currency_id)
        return credit is not None and is_expired(credit.valid_until_ms, now_ms)

    return check


class CheckTypedEntitlement:
    """GetBoolean/Numeric/Metered/EnumEntitlement (decision-rules.md §8.2)."""

    def __init__(self, context: ReadContext) -> None:
        self._ctx = context

    async def execute(
        self, kind: FeatureKind, key: CustomerKey, query: FeatureQuery, deadline: Budget | None
    ) -> FeatureAnswer:
        return (await self.answer(kind, key, query, deadline))[0]

    @property
    def still_current(self) -> Callable[[Freshness], bool]:
        """Whether an answer of any read use case with ``freshness`` may be reused now
        (they share one ``ReadContext``); counts a cache hit when true. No I/O. The
        loader's own method (``LoadEntitlements.still_current``), so that a response
        memo's lookup is one call, not three."""
        return self._ctx.loader.still_current

    @property
    def peekable(self) -> bool:
        """Whether ``still_current`` can ever say yes (an in-process cache)."""
        return self._ctx.peekable

    async def answer(
        self, kind: FeatureKind, key: CustomerKey, query: FeatureQuery, deadline: Budget | None,
        known: Freshness | None = None,
    ) -> tuple[FeatureAnswer | Unchanged, Freshness | None]:
        """The answer, and its freshness when it may be reused (``domain.model.freshness``):
        only plain answers from a trusted cache hit, never fallbacks or mismatches (those
        log and count on every call). ``known``: the freshness of the caller's previous
        answer to the same request, if it kept one; when that answer still holds after
        the read (``ReadContext.unchanged``), ``(UNCHANGED, known)`` is returned instead
        of evaluating again."""
        rpc = TYPED_RPC_NAMES[kind]
        ctx = self._ctx
        loaded = None
        if ctx.input_problem(rpc, key, known, feature_id=query.feature_id) is None:
            loaded = await ctx.load(key, deadline, feature_expired(query.feature_id))
            if ctx.unchanged(known, loaded):
                return UNCHANGED, known
        entitlements = loaded.entitlements if loaded is not None else None
        answer = typed_answer(kind, entitlements, query, ctx.fallbacks, ctx.clock.now_ms())
        if answer.mismatched_kind is not None:
            log.warning(
                "feature type mismatch",
                extra={"rpc": rpc, "feature_id": query.feature_id,
                       "actual_kind": answer.mismatched_kind.value},
            )
        if answer.is_fallback:
            ctx.count_fallback(rpc, answer.has_access, answer.reason)
            return answer, None
        return answer, _feature_freshness(ctx, loaded, query.feature_id)


def _feature_freshness(ctx: ReadContext, loaded, feature_id: str) -> Freshness | None:
    return ctx.freshness(loaded, lambda entitlements: feature_answer_until(entitlements, feature_id))


class CheckEntitlement:
    """Generic GetEntitlement and the feature side of GetEntitlementV2 (§8.3, §8.4)."""

    def __init__(self, context: ReadContext) -> None:
        self._ctx = context

    async def execute(
        self, key: CustomerKey, query: FeatureQuery, deadline: Budget | None, *, rpc: str
    ) -> FeatureAnswer:
        return (await self.answer(key, query, deadline, rpc=rpc))[0]

    async def answer(
        self, key: CustomerKey, query: FeatureQuery, deadline: Budget | None, *, rpc: str,
        known: Freshness | None = None,
    ) -> tuple[FeatureAnswer | Unchanged, Freshness | None]:
        """As ``CheckTypedEntitlement.answer``."""
        ctx = self._ctx
        loaded = None
        if ctx.input_problem(rpc, key, known, feature_id=query.feature_id) is not None:
            answer = invalid_feature_answer(query, ctx.fallbacks)
        else:
            loaded = await ctx.load(key, deadline, feature_expired(query.feature_id))
            if ctx.unchanged(known, loaded):
                return UNCHANGED, known
            entitlements = loaded.entitlements if loaded is not None else None
            answer = generic_answer(entitlements, query, ctx.fallbacks, ctx.clock.now_ms())
        if answer.is_fallback:
            ctx.count_fallback(rpc, answer.has_access, answer.reason)
            return answer, None
        return answer, _feature_freshness(ctx, loaded, query.feature_id)


class CheckCredit:
    """The credit side of GetEntitlementV2 (decision-rules.md §5.1, §8.4)."""

    def __init__(self, context: ReadContext) -> None:
        self._ctx = context

    async def execute(
        self,
        key: CustomerKey,
        currency_id: str,
        requested_usage: float | None,
        fallback: FallbackValues | None,
        deadline: Budget | None,
    ) -> CreditAnswer:
        return (await self.answer(key, currency_id, requested_usage, fallback, deadline))[0]

    async def answer(
        self,
        key: CustomerKey,
        currency_id: str,
        requested_usage: float | None,
        fallback: FallbackValues | None,
        deadline: Budget | None,
        known: Freshness | None = None,
    ) -> tuple[CreditAnswer | Unchanged, Freshness | None]:
        """As ``CheckTypedEntitlement.answer``."""
        rpc = "GetEntitlementV2"
        ctx = self._ctx
        loaded = None
        if ctx.input_problem(rpc, key, known, currency_id=currency_id) is None:
            loaded = await ctx.load(key, deadline, credit_expired(currency_id))
            if ctx.unchanged(known, loaded):
                return UNCHANGED, known
        entitlements = loaded.entitlements if loaded is not None else None
        answer = credit_answer(entitlements, currency_id, requested_usage, fallback)
        if answer.is_fallback:
            ctx.count_fallback(rpc, answer.has_access, answer.reason)
            return answer, None
        return answer, ctx.freshness(
            loaded, lambda entitlements: credit_answer_until(entitlements, currency_id))
