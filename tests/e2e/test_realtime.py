"""Real-time updates against the emulator's real loopback WebSocket (issue: real-time).

The sidecar runs with short keep-alive settings so faults are detected in well under a
second; the production defaults are in the README.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest
from stigg_emulator import feature

from sidecarpb.v1 import sidecar_pb2 as pb
from support.sidecar import metric
from support.upstream import entitlement_reads

PING_MS = 300
REALTIME = dict(WS_ENABLED="true", WS_PING_INTERVAL_MS=str(PING_MS), WS_DEAD_AFTER_MS="500",
                WS_BACKOFF_INITIAL_MS="50", WS_BACKOFF_MAX_MS="200", ENTITLEMENTS_TIMEOUT_MS="1000")


async def eventually(predicate, timeout: float = 3.0, step: float = 0.005) -> float:
    """Seconds until ``predicate()`` held; fails after ``timeout``."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(step)
    return time.monotonic() - started


def api_calls(limit: float = 100, usage: float = 40, **fields):
    return feature("api-calls", "NUMBER", "Incremental", usageLimit=limit, currentUsage=usage, **fields)


def check(customer: str = "acme", requested: float = 0):
    return pb.GetMeteredEntitlementRequest(
        customer_id=customer, feature_id="api-calls",
        options=pb.MeteredEntitlementOptions(requested_usage=requested))


def realtime_env(emulator, **extra: str) -> dict[str, str]:
    return REALTIME | {"WS_URL": emulator.base_url.replace("http", "ws")} | extra


@pytest.fixture
async def realtime(emulator, start_sidecar):
    emulator.set_customer("acme", [api_calls(), feature("sso")])
    async with start_sidecar(**realtime_env(emulator)) as (app, client):
        await eventually(lambda: app._realtime is not None and app._realtime.live)
        yield app, client


async def test_checks_make_no_upstream_calls_while_live(emulator, realtime):
    app, client = realtime
    first = await client.call("GetMeteredEntitlement", check())
    assert first.entitlement.current_usage == 40
    emulator.reset_counters()
    for _ in range(20):
        r = await client.call("GetMeteredEntitlement", check())
        assert r.has_access and not r.is_fallback
    assert entitlement_reads(emulator) == 0
    assert metric(app, "sidecar_websocket_connected") == 1


async def test_pushed_changes_are_visible_without_a_fetch(emulator, realtime):
    app, client = realtime
    await client.call("GetMeteredEntitlement", check())
    emulator.reset_counters()
    # Entitlement change (limit raised).
    emulator.set_customer("acme", [api_calls(limit=500, entitlementUpdatedAt="2025-07-10T15:31:00.000Z")])
    seen = []

    async def limit_is(value):
        r = await client.call("GetMeteredEntitlement", check())
        seen.append(r.entitlement.usage_limit)
        return r.entitlement.usage_limit == value

    started = time.monotonic()
    while not await limit_is(500):
        assert time.monotonic() - started < 0.1, seen
    # Usage update.
    emulator.set_usage("acme", "api-calls", 77)
    started = time.monotonic()
    while (await client.call("GetMeteredEntitlement", check())).entitlement.current_usage != 77:
        assert time.monotonic() - started < 0.1
    # Revoked: denies at once.
    emulator.set_customer("acme", [api_calls(limit=500, isGranted=False, accessDeniedReason="Revoked",
                                             entitlementUpdatedAt="2025-07-10T15:32:00.000Z")])
    started = time.monotonic()
    while (await client.call("GetMeteredEntitlement", check())).has_access:
        assert time.monotonic() - started < 0.1
    r = await client.call("GetMeteredEntitlement", check())
    assert r.access_denied_reason == pb.ACCESS_DENIED_REASON_REVOKED
    assert entitlement_reads(emulator) == 0


async def test_purge_and_publish_to_all_customers_cause_a_refetch(emulator, realtime):
    app, client = realtime
    await client.call("GetMeteredEntitlement", check())
    emulator.reset_counters()
    emulator.purge_customer("acme")
    await asyncio.sleep(0.05)
    await client.call("GetMeteredEntitlement", check())
    assert entitlement_reads(emulator, "acme") == 1
    await client.call("GetMeteredEntitlement", check())
    assert entitlement_reads(emulator, "acme") == 1  # trusted again after the refetch
    emulator.publish_package(migration_type="NEW_CUSTOMERS")
    await asyncio.sleep(0.05)
    await client.call("GetMeteredEntitlement", check())
    assert entitlement_reads(emulator, "acme") == 1
    emulator.publish_package(migration_type="ALL_CUSTOMERS")
    await asyncio.sleep(0.05)
    await client.call("GetMeteredEntitlement", check())
    assert entitlement_reads(emulator, "acme") == 2


async def test_dropped_socket_reconnects_and_nothing_older_than_reconnect_is_served(emulator, realtime):
    app, client = realtime
    await client.call("GetMeteredEntitlement", check())
    connections = emulator.ws_connections
    emulator.ws_push_enabled = False
    emulator.ws_refuse(True)
    emulator.ws_close_all()
    await eventually(lambda: not app._realtime.live)
    # In the gap: a change the feed never delivers; checks refetch and see it.
    emulator.set_customer("acme", [api_calls(usage=55)])
    emulator.reset_counters()
    r = await client.call("GetMeteredEntitlement", check())
    assert r.entitlement.current_usage == 55 and entitlement_reads(emulator) == 1
    emulator.set_customer("acme", [api_calls(usage=60)])
    emulator.ws_refuse(False)
    await eventually(lambda: app._realtime.live)
    assert emulator.ws_connections > connections
    # The entry fetched during the gap predates the new live state: refetched once.
    emulator.reset_counters()
    r = await client.call("GetMeteredEntitlement", check())
    assert r.entitlement.current_usage == 60 and entitlement_reads(emulator) == 1
    emulator.ws_push_enabled = True
    r = await client.call("GetMeteredEntitlement", check())
    assert entitlement_reads(emulator) == 1


async def test_half_open_socket_is_replaced_within_two_ping_intervals(emulator, realtime):
    app, client = realtime
    connections = emulator.ws_connections
    emulator.ws_mute(True)
    took = await eventually(lambda: not app._realtime.live, timeout=3)
    assert took < 2 * PING_MS / 1000
    emulator.ws_mute(False)
    await eventually(lambda: app._realtime.live and emulator.ws_connections > connections)


async def test_invalid_key_backs_off_logs_once_and_counts(emulator, start_sidecar, caplog):
    emulator.set_customer("acme", [feature("sso")])
    emulator.ws_reject_key(True)
    with caplog.at_level(logging.ERROR, logger="sidecar.realtime"):
        async with start_sidecar(**realtime_env(emulator, WS_AUTH_RETRY_MS="60000")) as (app, client):
            await eventually(lambda: metric(app, "sidecar_invalid_api_key_errors_total") >= 1)
            await asyncio.sleep(1.0)
            assert emulator.ws_connection_attempts <= 2
            errors = [r for r in caplog.records if r.levelno >= logging.ERROR and r.name == "sidecar.realtime"]
            assert len(errors) == 1 and "API key was rejected" in errors[0].getMessage()
            # Reads still work (refetch).
            r = await client.call("GetBooleanEntitlement", pb.GetBooleanEntitlementRequest(
                customer_id="acme", feature_id="sso"))
            assert r.is_fallback is False


async def test_oversized_update_frame_is_applied(emulator, start_sidecar):
    # Emulator and sidecar share one event loop here, so building and compressing a
    # 5 MiB frame stalls both; the keep-alive is relaxed for this test only.
    emulator.set_customer("acme", [api_calls()])
    env = realtime_env(emulator, WS_PING_INTERVAL_MS="2000", WS_DEAD_AFTER_MS="5000")
    async with start_sidecar(**env) as (app, client):
        await eventually(lambda: app._realtime is not None and app._realtime.live)
        await _apply_big_frame(emulator, app, client)


async def _apply_big_frame(emulator, app, client):
    await client.call("GetMeteredEntitlement", check())
    many = [feature(f"flag-{i:06d}", "ENUM", "None", enumValues=["x" * 400]) for i in range(9000)]
    big = [api_calls(usage=12, entitlementUpdatedAt="2025-07-10T15:40:00.000Z"), *many]
    size = len(json.dumps(big))
    assert size > 5 * 1024 * 1024
    connections = emulator.ws_connections
    emulator.push_entitlements("acme", big)
    emulator.reset_counters()
    started = time.monotonic()
    while (await client.call("GetMeteredEntitlement", check())).entitlement.current_usage != 12:
        assert time.monotonic() - started < 3
    assert emulator.ws_connections == connections and entitlement_reads(emulator) == 0


async def test_vectors_v1_v6_v15_with_the_feed_live(emulator, realtime):
    """The WebSocket-dependent parts of vectors V1, V6 and V15."""
    app, client = realtime
    # V1: a second identical call makes no upstream request.
    await client.call("GetBooleanEntitlement", pb.GetBooleanEntitlementRequest(customer_id="acme", feature_id="sso"))
    emulator.reset_counters()
    await client.call("GetBooleanEntitlement", pb.GetBooleanEntitlementRequest(customer_id="acme", feature_id="sso"))
    assert entitlement_reads(emulator) == 0
    # V6: a usageUpdatedV2 sets usage without an upstream request.
    await client.call("GetMeteredEntitlement", check())
    emulator.push_usage("acme", "api-calls", 3)
    await eventually(lambda: True, timeout=0.01)
    started = time.monotonic()
    while (await client.call("GetMeteredEntitlement", check())).entitlement.current_usage != 3:
        assert time.monotonic() - started < 1
    # V15: ReportUsage sets the cached usage from the answer; the next check makes no fetch.
    emulator.ws_push_enabled = False  # prove the value comes from the ReportUsage answer
    emulator.set_usage("acme", "api-calls", 42)
    r = await client.call("ReportUsage", pb.ReportUsageRequest(
        customer_id="acme", feature_id="api-calls", value=5, update_behavior=pb.USAGE_UPDATE_BEHAVIOR_DELTA))
    assert r.current_usage == 47
    emulator.reset_counters()
    after = await client.call("GetMeteredEntitlement", check())
    assert after.entitlement.current_usage == 47 and entitlement_reads(emulator) == 0
