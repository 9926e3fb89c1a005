"""Loop-thread metrics (loop_metrics): the text prometheus-client renders from them is a
valid counter and histogram, with the buckets, count and sum prometheus expects."""
from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from adapters.outbound.loop_metrics import LoopCounter, LoopHistogram
from adapters.outbound.prometheus_telemetry import RPC_DURATION_BUCKETS_S, PrometheusTelemetry


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple], float]:
    text = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_a_counter_renders_its_total():
    registry = CollectorRegistry()
    hits = LoopCounter("hits", "Hits")
    registry.register(hits)
    for _ in range(3):
        hits.inc()
    assert samples(registry)[("hits_total", ())] == 3


def test_a_histogram_renders_cumulative_buckets_count_and_sum():
    registry = CollectorRegistry()
    histogram = LoopHistogram("took_seconds", "Took", ["rpc", "code"], [0.001, 0.01, 0.1])
    registry.register(histogram)
    for value in (0.0005, 0.001, 0.005, 0.5, 7.0):  # 0.001 falls in le=0.001 (≤)
        histogram.observe(("Get", "OK"), value)
    histogram.observe(("Get", "UNAVAILABLE"), 0.02)
    got = samples(registry)
    ok = (("code", "OK"), ("rpc", "Get"))

    def bucket(le: str) -> float:
        return got[("took_seconds_bucket", tuple(sorted((*ok, ("le", le)))))]

    assert [bucket(le) for le in ("0.001", "0.01", "0.1", "+Inf")] == [2, 3, 3, 5]
    assert got[("took_seconds_count", ok)] == 5
    assert got[("took_seconds_sum", ok)] == pytest.approx(7.5065)
    assert got[("took_seconds_count", (("code", "UNAVAILABLE"), ("rpc", "Get")))] == 1


def test_bad_buckets_or_labels_are_refused():
    with pytest.raises(ValueError):
        LoopHistogram("h", "H", ["rpc"], [0.1, 0.01])
    with pytest.raises(ValueError):
        LoopHistogram("h", "H", ["rpc"], [])
    histogram = LoopHistogram("h", "H", ["rpc", "code"], [1.0])
    with pytest.raises(ValueError):
        histogram.observe(("only-one",), 0.5)


def test_the_telemetry_keeps_the_documented_names_and_buckets():
    registry = CollectorRegistry()
    telemetry = PrometheusTelemetry(registry)
    telemetry.observe_rpc("GetBooleanEntitlement", "OK", 0.0003)
    telemetry.cache_hit()
    telemetry.cache_miss()
    got = samples(registry)
    labels = (("code", "OK"), ("rpc", "GetBooleanEntitlement"))
    assert got[("sidecar_rpc_duration_seconds_count", labels)] == 1
    les = sorted(float(dict(k[1])["le"]) for k in got
                 if k[0] == "sidecar_rpc_duration_seconds_bucket")
    assert les == sorted([*RPC_DURATION_BUCKETS_S, float("inf")])
    assert got[("sidecar_cache_hits_total", ())] == 1
    assert got[("sidecar_cache_misses_total", ())] == 1
