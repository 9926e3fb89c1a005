"""Metrics of the persistent cache service (configuration.md §4 "Metrics", ours)."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from ports.telemetry import NullTelemetry


class PersistentCacheTelemetry(NullTelemetry):
    """The Telemetry port for the shared real-time adapter; the read-path methods stay
    no-ops (inherited) because this process answers no checks."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.events = Counter("persistent_cache_events", "Real-time events applied",
                              ["type"], registry=registry)
        self.write_errors = Counter("persistent_cache_write_errors",
                                    "Events whose Redis write failed", registry=registry)
        self.websocket_connected = Gauge("persistent_cache_websocket_connected",
                                         "1 while the real-time feed is live", registry=registry)
        self.redis_errors = Counter("persistent_cache_redis_errors", "Redis commands that failed",
                                    registry=registry)
        self.invalidations = Counter("persistent_cache_invalidations",
                                     "Whole-prefix invalidations after a gap", registry=registry)
        self.invalid_api_key_errors = Counter("persistent_cache_invalid_api_key_errors",
                                              "Upstream rejected the server API key",
                                              registry=registry)

    def realtime_live(self, live: bool) -> None:
        self.websocket_connected.set(1 if live else 0)

    def upstream_error(self, *, auth: bool) -> None:
        if auth:
            self.invalid_api_key_errors.inc()
