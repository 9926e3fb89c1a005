"""Telemetry as Prometheus metrics (configuration.md §4 "Metrics").

Each process owns one ``CollectorRegistry`` (no global registry), so tests can run
several sidecars in one process.
"""
from __future__ import annotations

from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from adapters.outbound.loop_metrics import LoopCounter, LoopHistogram
from ports.telemetry import Telemetry

#: Upper bounds of ``sidecar_rpc_duration_seconds`` (seconds).
RPC_DURATION_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                          0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class PrometheusTelemetry(Telemetry):
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.initialization_errors = Counter(
            "sidecar_initialization_errors", "Start-up checks that failed", registry=registry
        )
        self.invalid_api_key_errors = Counter(
            "sidecar_invalid_api_key_errors", "Upstream rejected the server API key",
            registry=registry,
        )
        self.network_request_errors = Counter(
            "sidecar_network_request_errors", "Upstream calls that failed", registry=registry
        )
        self.redis_client_errors = Counter(
            "sidecar_redis_client_errors", "Redis commands that failed", registry=registry
        )
        # Per-call metrics: plain numbers on the loop thread (loop_metrics explains why).
        self.cache_hits = LoopCounter("sidecar_cache_hits", "Reads from a trusted entry")
        self.cache_misses = LoopCounter("sidecar_cache_misses", "Reads that had to fetch")
        registry.register(self.cache_hits)
        registry.register(self.cache_misses)
        self.fallbacks = Counter(
            "sidecar_fallback_responses", "Answers built from fallback values",
            ["rpc", "reason"], registry=registry,
        )
        self.last_known_good_responses = Counter(
            "sidecar_last_known_good_responses", "Answers from an untrusted entry after a failed refetch",
            registry=registry,
        )
        self.invalid_requests = Counter(
            "sidecar_invalid_requests", "Reads with unusable input answered by fallback",
            ["field"], registry=registry,
        )
        self.rpc_duration = LoopHistogram(
            "sidecar_rpc_duration_seconds", "Time to answer an RPC (seconds)",
            ["rpc", "code"], RPC_DURATION_BUCKETS_S,
        )
        registry.register(self.rpc_duration)
        self.websocket_connected = Gauge(
            "sidecar_websocket_connected", "1 while the real-time feed is live", registry=registry
        )
        self.cache_size_bytes = Gauge(
            "sidecar_cache_size_bytes", "Estimated bytes held by the in-memory cache",
            registry=registry,
        )
        self.cache_entries = Gauge(
            "sidecar_cache_entries", "Entries held by the in-memory cache", registry=registry
        )
        self.realtime_last_message_age = Gauge(
            "sidecar_realtime_last_message_age_seconds",
            "Seconds since the real-time feed last delivered anything (-1: never)",
            registry=registry,
        )
        self.gc_frozen_objects = Gauge(
            "sidecar_gc_frozen_objects",
            "Objects frozen out of the cyclic GC as of the last freeze (GC_FREEZE_INTERVAL_MS; 0 when off)",
            registry=registry,
        )

    def watch_cache(
        self,
        size_bytes: Callable[[], float],
        entries: Callable[[], float],
        evictions: Callable[[], float],
    ) -> None:
        """Read cache figures at scrape time (no work on the hot path)."""
        self.cache_size_bytes.set_function(size_bytes)
        self.cache_entries.set_function(entries)
        self.registry.register(_CounterFromFunction(
            "sidecar_cache_evictions", "Entries evicted by the LRU bound", evictions))

    def watch_outbox(
        self,
        depth: Callable[[], float],
        bytes_used: Callable[[], float],
        oldest_age_s: Callable[[], float | None],
        counts: dict[str, Callable[[], float]],
        *,
        prefix: str = "sidecar_outbox",
        items: str = "events",
    ) -> None:
        """Outbox figures, read at scrape time: depth, bytes, age of the oldest item and
        the delivery counters (``counts``: suffix → value, e.g. ``delivered``).

        The event outbox keeps its names (``sidecar_outbox_events``, …); the usage outbox
        passes ``prefix="sidecar_usage_outbox", items="items"``
        (``sidecar_usage_outbox_items``, ``sidecar_usage_outbox_delivered_total``, …).
        """
        noun = "events" if items == "events" else "usage reports"
        Gauge(f"{prefix}_{items}", f"{noun.capitalize()} queued in the outbox",
              registry=self.registry).set_function(depth)
        Gauge(f"{prefix}_bytes", "Bytes used by the outbox", registry=self.registry
              ).set_function(bytes_used)
        Gauge(f"{prefix}_oldest_age_seconds", f"Age of the oldest queued {noun[:-1]} (-1: empty)",
              registry=self.registry).set_function(lambda: _or_minus_one(oldest_age_s()))
        for name, value in counts.items():
            self.registry.register(_CounterFromFunction(
                f"{prefix}_{name}", f"Outbox {noun} {name}", value))

    def watch_realtime(self, age_s: Callable[[], float | None]) -> None:
        self.realtime_last_message_age.set_function(lambda: _or_minus_one(age_s()))

    def watch_gc(self, frozen: Callable[[], int]) -> None:
        self.gc_frozen_objects.set_function(frozen)

    def observe_rpc(self, rpc: str, code: str, seconds: float) -> None:
        """One finished RPC: duration histogram by RPC and status code name (seconds).
        Event-loop thread only (``loop_metrics``)."""
        self.rpc_duration.observe((rpc, code), seconds)

    def cache_hit(self) -> None:
        self.cache_hits.value += 1  # LoopCounter.inc inlined: once per cache hit

    def cache_miss(self) -> None:
        self.cache_misses.inc()

    def last_known_good(self) -> None:
        self.last_known_good_responses.inc()

    def fallback(self, rpc: str, reason: str) -> None:
        self.fallbacks.labels(rpc, reason).inc()

    def upstream_error(self, *, auth: bool) -> None:
        if auth:
            self.invalid_api_key_errors.inc()
        else:
            self.network_request_errors.inc()

    def invalid_request(self, field: str) -> None:
        self.invalid_requests.labels(field).inc()

    def realtime_live(self, live: bool) -> None:
        self.websocket_connected.set(1 if live else 0)


def _or_minus_one(value: float | None) -> float:
    return -1.0 if value is None else value


class _CounterFromFunction(Collector):
    """A counter whose value lives elsewhere (e.g. the cache's eviction count)."""

    def __init__(self, name: str, documentation: str, value: Callable[[], float]) -> None:
        self._name, self._documentation, self._value = name, documentation, value

    def collect(self):  # noqa: D102 - prometheus_client protocol
        family = CounterMetricFamily(self._name, self._documentation)
        family.add_metric([], self._value())
        yield family
