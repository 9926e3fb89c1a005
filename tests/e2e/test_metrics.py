"""/metrics parses as Prometheus text and each listed series moves when its event happens."""
from __future__ import annotations

import asyncio

import httpx
from prometheus_client.parser import text_string_to_metric_families
from stigg_emulator import feature

from sidecarpb.v1 import sidecar_pb2 as pb
from support.sidecar import API_KEY


async def scrape(app) -> dict[tuple[str, tuple], float]:
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{app.http_port}/metrics")).text
    assert API_KEY not in text
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def check(customer="acme", feature_id="sso"):
    return pb.GetBooleanEntitlementRequest(customer_id=customer, feature_id=feature_id)


async def test_every_listed_series_moves(emulator, start_sidecar):
    emulator.set_customer("acme", [feature(f"f{i}") for i in range(30)] + [feature("sso")])
    ws = emulator.base_url.replace("http", "ws")
    # A cache too small for two customers, so the second evicts the first.
    env = dict(WS_ENABLED="true", WS_URL=ws, CACHE_MAX_SIZE_BYTES="30000",
               ENTITLEMENTS_TIMEOUT_MS="300", ENTITLEMENTS_FALLBACK='{"sso":{"hasAccess":true}}')
    emulator.set_customer("beta", [feature(f"g{i}") for i in range(30)])
    async with start_sidecar(**env) as (app, client):
        for _ in range(200):
            if app._realtime is not None and app._realtime.live:
                break
            await asyncio.sleep(0.01)
        before = await scrape(app)
        await client.call("GetBooleanEntitlement", check())           # miss
        await client.call("GetBooleanEntitlement", check())           # hit
        await client.call("GetBooleanEntitlement", check("beta"))     # miss, evicts acme
        emulator.set_fault("down")
        await client.call("GetBooleanEntitlement", check("gamma"))    # network error → fallback
        emulator.ws_close_all()
        for _ in range(200):
            if not app._realtime.live:
                break
            await asyncio.sleep(0.01)
        await client.call("GetBooleanEntitlement", check("beta", "g1"))  # untrusted → LKG
        after = await scrape(app)
    assert value(after, "sidecar_cache_misses_total") >= value(before, "sidecar_cache_misses_total") + 3
    assert value(after, "sidecar_cache_hits_total") == value(before, "sidecar_cache_hits_total") + 1
    assert value(after, "sidecar_network_request_errors_total") > value(before, "sidecar_network_request_errors_total")
    assert value(after, "sidecar_fallback_responses_total", rpc="GetBooleanEntitlement", reason="granted") == 1
    assert value(after, "sidecar_last_known_good_responses_total") == 1
    assert value(after, "sidecar_cache_evictions_total") >= 1
    assert value(after, "sidecar_cache_entries") >= 1 and value(after, "sidecar_cache_size_bytes") > 0
    assert value(after, "sidecar_rpc_duration_seconds_count", rpc="GetBooleanEntitlement", code="OK") == 5
    assert value(before, "sidecar_websocket_connected") == 1 and value(after, "sidecar_websocket_connected") == 0
    assert value(after, "sidecar_realtime_last_message_age_seconds") >= 0
    for name in ("sidecar_initialization_errors_total", "sidecar_invalid_api_key_errors_total",
                 "sidecar_redis_client_errors_total"):
        assert (name, ()) in after


async def test_rejected_key_at_start_counts_initialization_and_key_errors(emulator, start_sidecar):
    emulator.set_fault("unauthorized")
    async with start_sidecar() as (app, client):
        for _ in range(300):
            samples = await scrape(app)
            if value(samples, "sidecar_invalid_api_key_errors_total") >= 1:
                break
            await asyncio.sleep(0.01)
    assert value(samples, "sidecar_invalid_api_key_errors_total") >= 1
    assert value(samples, "sidecar_initialization_errors_total") == 1
