"""A Telemetry that records every call, for assertions on counted events."""
from __future__ import annotations

from ports.telemetry import Telemetry


class RecordingTelemetry(Telemetry):
    """Counters and call lists, one per port method.

    ``fallbacks`` holds ``(rpc, reason)`` pairs; ``upstream_errors`` holds the ``auth``
    flag of each failure; ``invalid_requests`` holds field names.
    """

    def __init__(self) -> None:
        self.cache_hits = 0
        self.cache_misses = 0
        self.last_known_good_reads = 0
        self.fallbacks: list[tuple[str, str]] = []
        self.upstream_errors: list[bool] = []
        self.invalid_requests: list[str] = []
        self.realtime_states: list[bool] = []

    def cache_hit(self) -> None:
        self.cache_hits += 1

    def cache_miss(self) -> None:
        self.cache_misses += 1

    def last_known_good(self) -> None:
        self.last_known_good_reads += 1

    def fallback(self, rpc: str, reason: str) -> None:
        self.fallbacks.append((rpc, reason))

    def upstream_error(self, *, auth: bool) -> None:
        self.upstream_errors.append(auth)

    def invalid_request(self, field: str) -> None:
        self.invalid_requests.append(field)

    def realtime_live(self, live: bool) -> None:
        self.realtime_states.append(live)
