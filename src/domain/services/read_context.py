"""What every read use case shares: the loader, the fallback table, the clock, the budget."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Coroutine

from domain.model.budget import Budget
from domain.model.entitlement import EntitlementSet
from domain.model.fallback import FallbackTable
from domain.model.freshness import Freshness, same_answer
from domain.model.identifiers import CustomerKey
from domain.model.validation import id_problem
from domain.services.load_entitlements import (
    ExpiryCheck,
    Loaded,
    LoadEntitlements,
    Source,
    any_expired,
)
from ports.clock import Clock
from ports.telemetry import Telemetry

log = logging.getLogger("sidecar.read")


@dataclass(frozen=True, slots=True)
class ReadContext:
    """``timeout_s`` is ``ENTITLEMENTS_TIMEOUT_MS`` in seconds (upstream-api.md §6)."""

    loader: LoadEntitlements
    fallbacks: FallbackTable
    clock: Clock
    telemetry: Telemetry
    timeout_s: float

    def budget(self, deadline: Budget | None, fetch_budget: Budget | None = None) -> Budget:
        """The configured budget (``fetch_budget`` if already taken), shortened by the
        caller's deadline (already net of margin)."""
        return (fetch_budget or self.fetch_budget()).shortened_to(deadline)

    def fetch_budget(self) -> Budget:
        """The configured budget alone: what a fetch shared by many callers may take."""
        return Budget.starting(self.clock.monotonic(), self.timeout_s)

    def load(self, key: CustomerKey, deadline: Budget | None,
             expired: ExpiryCheck = any_expired) -> Coroutine[Any, Any, Loaded | None]:
        """Load through the loader with this caller's budget and the shared fetch budget:
        the loader's coroutine, to await (handed back rather than awaited here, so a read
        runs in one coroutine frame fewer)."""
        fetch_budget = self.fetch_budget()
        return self.loader.execute(key, self.budget(deadline, fetch_budget), expired,
                                   fetch_budget)

    def unchanged(self, known: Freshness | None, loaded: Loaded | None) -> bool:
        """Whether the answer that ``known`` belongs to (the caller's previous answer to
        the same request) is still the answer, given what was just ``loaded``: a trusted
        cache hit of the very same set, before the bound (``freshness.same_answer``)."""
        return (known is not None and loaded is not None and loaded.source is Source.CACHE
                and same_answer(known, loaded.entitlements, self.clock.now_ms()))

    @property
    def peekable(self) -> bool:
        """See ``LoadEntitlements.peekable``."""
        return self.loader.peekable

    def freshness(self, loaded: Loaded | None, until: Callable[[EntitlementSet], float]) -> Freshness | None:
        """Freshness of an answer computed from ``loaded``: only answers from a trusted
        cache hit have one (a live fetch or last-known-good is never reused). Whether it
        may be reused before a read (``LoadEntitlements.still_current``, in-process caches) or only after
        one (``same_answer``) is the caller's choice."""
        if loaded is None or loaded.source is not Source.CACHE:
            return None
        return Freshness.of(loaded.entitlements, until(loaded.entitlements))

    def input_problem(self, rpc: str, key: CustomerKey, known: Freshness | None = None,
                      **ids: str | None) -> str | None:
        """Name and problem of the first unusable id, logged and counted (§8.8), or ``None``.

        With ``known`` (the freshness of the caller's previous answer to this very
        request, as the read use cases take it) there is nothing to check: an answer with
        a freshness is never a fallback, and an unusable id always answers one, so the
        same ids passed these checks then. ``known`` must come from *this exact request*
        (the same bytes, as the gRPC response memo keys it): ``known.key == key`` is only
        a guard against a gross mix-up; the feature and currency ids are not compared."""
        if known is not None and known.key == key:
            return None
        checks = [("customer_id", key.customer_id, True), ("resource_id", key.resource_id, False)]
        checks.extend((name, value, True) for name, value in ids.items())
        for name, value, required in checks:
            problem = id_problem(value, required=required)
            if problem is not None:
                log.warning(
                    "read answered with fallback: invalid input",
                    extra={"rpc": rpc, "field": name, "problem": problem},
                )
                self.telemetry.invalid_request(name)
                return f"{name} {problem}"
        return None

    def count_fallback(self, rpc: str, has_access: bool, reason: object) -> None:
        name = "granted" if has_access else getattr(reason, "name", "UNKNOWN")
        self.telemetry.fallback(rpc, name)
