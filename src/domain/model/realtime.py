"""Real-time update events, as the feed delivers them (upstream-api.md §9.3)."""
from __future__ import annotations

from dataclasses import dataclass

from domain.model.entitlement import EntitlementSet, Usage
from domain.model.identifiers import CustomerKey
from domain.model.reports import UsageTarget


@dataclass(frozen=True, slots=True)
class EntitlementsUpdated:
    """``entitlementsUpdatedV2``: the whole set for one (customer, resource).

    ``purge`` is true when upstream sent an empty list and a null reason: the cached
    state is unknown and must be deleted, not replaced.
    """

    entitlements: EntitlementSet
    purge: bool = False


@dataclass(frozen=True, slots=True)
class UsageUpdated:
    """``usageUpdatedV2``: absolute usage of one feature (``FEATURE``) or wallet (``CREDIT``)."""

    key: CustomerKey
    target: UsageTarget
    ref_id: str
    usage: Usage


@dataclass(frozen=True, slots=True)
class PackagePublished:
    """``packagePublished``; only ``ALL_CUSTOMERS`` migrations invalidate the cache."""

    all_customers: bool


@dataclass(frozen=True, slots=True)
class FeedLive:
    """The feed became live (ack received and subscriptions sent)."""


@dataclass(frozen=True, slots=True)
class FeedLost:
    """The feed stopped being live; ``reason`` is for logs."""

    reason: str


RealtimeEvent = EntitlementsUpdated | UsageUpdated | PackagePublished | FeedLive | FeedLost
