"""How long an answer computed from a trusted cached set stays the right answer.

A read answer is a pure function of the entitlement set, the query, the fallback table
(fixed at start-up) and the time (decision-rules.md §4 rollover, §6 expiry). While the
very same set object is still the cache's trusted entry, only time can change the
answer, and only at two instants per entitlement: its ``valid_until`` (from then on it
is expired and must not answer, §6) and its usage period end (after it, usage rolls
over to 0, §4). ``Freshness`` records the set (weakly: a memo must never keep evicted
sets alive and so defeat ``CACHE_MAX_SIZE_BYTES``) and the earliest such instant, so an
inbound adapter may reuse a response it already built instead of evaluating again —
provided ``LoadEntitlements.still_current`` says yes at the time of the reuse.

Sets change by replacement (every cache write, usage update or feed update stores a new
object), so identity is an exact test of "nothing but time has changed".
"""
from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import Iterable

from domain.model.entitlement import EntitlementSet, FeatureEntitlement
from domain.model.identifiers import CustomerKey
from domain.model.kinds import FeatureKind


@dataclass(frozen=True, slots=True)
class Freshness:
    """``until_ms`` (epoch ms, exclusive; ``math.inf`` when no time bound applies): the
    answer holds for ``now_ms < until_ms`` while ``entitlements()`` is still the trusted
    cache entry of ``key``."""

    key: CustomerKey
    entitlements: weakref.ReferenceType[EntitlementSet]
    until_ms: float

    @classmethod
    def of(cls, entitlements: EntitlementSet, until_ms: float) -> Freshness:
        return cls(entitlements.key, weakref.ref(entitlements), until_ms)


class Unchanged:
    """The answer is the one already given for the same request (see ``same_answer``);
    the caller sends the response it built then. Only ``UNCHANGED`` exists."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED = Unchanged()


def same_answer(stored: Freshness, entitlements: EntitlementSet, now_ms: int) -> bool:
    """Whether an answer computed now from ``entitlements`` (just read from the cache)
    for the query that gave ``stored`` is the stored answer: the very same set object
    (so the same customer key) and ``now_ms`` before the stored bound. Used after a read
    that cannot be skipped (Redis: every read reads Redis, and its decode memo gives back
    the same set object for unchanged bytes), to skip evaluating and building again."""
    return now_ms < stored.until_ms and stored.entitlements() is entitlements


def _feature_bounds(entitlement: FeatureEntitlement) -> Iterable[int]:
    if entitlement.valid_until_ms is not None:
        yield entitlement.valid_until_ms
    end = entitlement.usage.period_end_ms
    if end is not None and entitlement.kind is FeatureKind.METERED:
        yield end + 1  # rollover happens once period_end < now (usage_period.effective_usage)


def feature_answer_until(entitlements: EntitlementSet, feature_id: str) -> float:
    """Bound of an answer about one feature (present or absent)."""
    entitlement = entitlements.feature(feature_id)
    if entitlement is None:
        return math.inf
    return min(_feature_bounds(entitlement), default=math.inf)


def credit_answer_until(entitlements: EntitlementSet, currency_id: str) -> float:
    """Bound of an answer about one credit wallet (no rollover: its expiry only)."""
    credit = entitlements.credit(currency_id)
    if credit is None or credit.valid_until_ms is None:
        return math.inf
    return credit.valid_until_ms


def state_answer_until(entitlements: EntitlementSet) -> float:
    """Bound of a bulk answer: the earliest bound of any entitlement in the set."""
    bounds = [b for e in entitlements.features for b in _feature_bounds(e)]
    bounds.extend(c.valid_until_ms for c in entitlements.credits if c.valid_until_ms is not None)
    return min(bounds, default=math.inf)
