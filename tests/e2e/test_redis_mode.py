"""Redis mode end to end: real redis-server (own port, DB 5), emulator, sidecars and the
persistent cache service (issue: Redis cache mode)."""
from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager

import pytest
from stigg_emulator import feature

from bootstrap.pcs_app import PersistentCacheApp
from bootstrap.settings import load_persistent_cache_settings
from sidecarpb.v1 import sidecar_pb2 as pb
from support.clients import StubCaller
from support.processes import start_sidecar
from support.redis_server import TEST_DB, close_client, redis_client
from support.sidecar import API_KEY, base_env, metric, running_sidecar
from support.upstream import entitlement_reads

pytestmark = pytest.mark.slow
PREFIX = "e2e-env"
TIMEOUT_MS = 500


def redis_env(emulator, server, **extra) -> dict[str, str]:
    return base_env(emulator.base_url) | {
        "REDIS_ENVIRONMENT_PREFIX": PREFIX, "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(server.port),
        "REDIS_DB": str(TEST_DB), "ENTITLEMENTS_TIMEOUT_MS": str(TIMEOUT_MS),
        "WS_URL": emulator.base_url.replace("http", "ws"),
        "ENTITLEMENTS_FALLBACK": '{"api-calls":{"hasAccess":true,"usageLimit":1}}'} | extra


@asynccontextmanager
async def sidecar(monkeypatch, env):
    async with running_sidecar(monkeypatch, env) as app:
        client = StubCaller(app.grpc_port)
        try:
            yield app, client
        finally:
            await client.close()


@asynccontextmanager
async def persistent_cache(monkeypatch, env):
    for name, value in (env | {"HTTP_PORT": "0", "WS_PING_INTERVAL_MS": "200", "WS_DEAD_AFTER_MS": "400",
                               "WS_BACKOFF_INITIAL_MS": "50"}).items():
        monkeypatch.setenv(name, value)
    settings, _ = load_persistent_cache_settings()
    app = PersistentCacheApp(settings)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


async def until(predicate, timeout=5.0):
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, "condition not reached"
        await asyncio.sleep(0.01)


def check(customer="acme", requested=1.0):
    return pb.GetMeteredEntitlementRequest(customer_id=customer, feature_id="api-calls",
                                           options=pb.MeteredEntitlementOptions(requested_usage=requested))


def api_calls(limit=100, usage=10, stamp="2025-07-10T15:00:00.000Z"):
    return feature("api-calls", "NUMBER", "Incremental", usageLimit=limit, currentUsage=usage,
                   entitlementUpdatedAt=stamp)


async def timed(client, request):
    started = time.monotonic()
    answer = await client.call("GetMeteredEntitlement", request, timeout=10)
    assert time.monotonic() - started < TIMEOUT_MS / 1000 + 0.5
    return answer


async def test_change_pushed_upstream_reaches_two_sidecar_processes_without_fetches(emulator, redis, monkeypatch):
    emulator.set_customer("acme", [api_calls()])
    env = redis_env(emulator, redis)
    async with persistent_cache(monkeypatch, env) as pcs:
        await until(lambda: pcs.readiness() is None)
        loop = asyncio.get_running_loop()
        one, ready_one = await loop.run_in_executor(None, start_sidecar, env)
        two, ready_two = await loop.run_in_executor(None, start_sidecar, env)
        try:
            clients = [StubCaller(ready_one["grpc_port"]), StubCaller(ready_two["grpc_port"])]
            for client in clients:
                assert (await client.call("GetMeteredEntitlement", check())).entitlement.usage_limit == 100
            emulator.reset_counters()
            emulator.set_customer("acme", [api_calls(limit=250, stamp="2025-07-10T15:05:00.000Z")])
            started = time.monotonic()
            for client in clients:
                while (await client.call("GetMeteredEntitlement", check())).entitlement.usage_limit != 250:
                    assert time.monotonic() - started < 1.0
                    await asyncio.sleep(0.01)
            assert entitlement_reads(emulator) == 0
            for client in clients:
                await client.close()
        finally:
            assert one.stop() == 0 and two.stop() == 0


async def test_restarted_sidecar_answers_from_redis_while_upstream_is_down(emulator, redis, monkeypatch):
    emulator.set_customer("acme", [api_calls(usage=42)])
    env = redis_env(emulator, redis)
    async with sidecar(monkeypatch, env) as (app, client):
        assert (await timed(client, check())).entitlement.current_usage == 42
    emulator.set_fault("down")
    async with sidecar(monkeypatch, env) as (app, client):
        r = await timed(client, check())
        assert not r.is_fallback and r.entitlement.current_usage == 42
        assert metric(app, "sidecar_cache_hits_total") == 1


async def test_redis_killed_restarted_paused(emulator, redis, monkeypatch):
    emulator.set_customer("acme", [api_calls()])
    async with sidecar(monkeypatch, redis_env(emulator, redis)) as (app, client):
        await timed(client, check())
        # Killed mid-load: every call answers in time, live from upstream.
        redis.kill()
        answers = await asyncio.gather(*(timed(client, check()) for _ in range(20)))
        assert all(not a.is_fallback and a.entitlement.usage_limit == 100 for a in answers)
        assert metric(app, "sidecar_redis_client_errors_total") >= 1
        # Killed and upstream down too: fallback, in time.
        emulator.set_fault("down")
        assert (await timed(client, check("newco"))).is_fallback
        emulator.set_fault("none")
        # Restarted empty: the cache is used again without restarting the sidecar.
        redis.start()
        started = time.monotonic()
        # Recovers by itself, within the skip window plus a retry: a check is answered
        # from Redis (no upstream read) once a read after the window has stored the set.
        # (One check per round: two could straddle the window's end, the first reading
        # live without storing, the second storing, and every later round read nothing.)
        while True:
            emulator.reset_counters()
            await timed(client, check())
            if entitlement_reads(emulator) == 0:
                break
            assert time.monotonic() - started < 8.0  # generous: 2 shared cores under load
            await asyncio.sleep(0.1)
        # Paused longer than the command timeout: still answers in time.
        with redis.paused():
            answers = await asyncio.gather(*(timed(client, check()) for _ in range(5)))
            await asyncio.sleep(1.5)
        assert all(a.entitlement.usage_limit == 100 for a in answers)


async def test_flushall_while_subscribed_refetches_and_repopulates(emulator, redis, monkeypatch):
    emulator.set_customer("acme", [api_calls()])
    env = redis_env(emulator, redis)
    async with persistent_cache(monkeypatch, env) as pcs, sidecar(monkeypatch, env) as (app, client):
        await until(lambda: pcs.readiness() is None)
        await timed(client, check())
        emulator.reset_counters()
        await timed(client, check())
        assert entitlement_reads(emulator) == 0
        direct = redis_client(redis)
        await direct.flushall()
        await close_client(direct)
        r = await timed(client, check())
        assert not r.is_fallback and r.has_access and entitlement_reads(emulator) == 1
        await timed(client, check())
        assert entitlement_reads(emulator) == 1


async def test_cold_customer_across_two_sidecars_is_fetched_once(emulator, redis, monkeypatch):
    emulator.set_customer("acme", [api_calls()])
    emulator.set_fault("slow", target="edge", delay_ms=300)
    env = redis_env(emulator, redis, ENTITLEMENTS_TIMEOUT_MS="3000")
    async with sidecar(monkeypatch, env) as (a, client_a), sidecar(monkeypatch, env) as (b, client_b):
        emulator.reset_counters()
        calls = [c.call("GetMeteredEntitlement", check(), timeout=10)
                 for _ in range(25) for c in (client_a, client_b)]
        answers = await asyncio.gather(*calls)
        assert all(not x.is_fallback for x in answers)
        assert entitlement_reads(emulator, "acme") == 1


async def test_gap_in_the_feed_invalidates_what_sidecars_read(emulator, redis, monkeypatch):
    emulator.set_customer("acme", [api_calls()])
    env = redis_env(emulator, redis)
    async with persistent_cache(monkeypatch, env) as pcs, sidecar(monkeypatch, env) as (app, client):
        await until(lambda: pcs.readiness() is None)
        await timed(client, check())
        emulator.ws_push_enabled = False
        emulator.ws_refuse(True)
        emulator.ws_close_all()
        await until(lambda: pcs.readiness() == "websocket not connected")
        # An update the service never heard of: the sidecar must not keep serving the old one.
        emulator.set_customer("acme", [api_calls(limit=7, stamp="2025-07-10T15:09:00.000Z")])
        r = await timed(client, check())
        assert r.entitlement.usage_limit == 7
        emulator.ws_refuse(False)
        await until(lambda: pcs.readiness() is None)
        assert pcs._invalidate.invalidations >= 2


async def test_read_only_redis_still_answers_and_counts_write_errors(emulator, redis, monkeypatch):
    emulator.set_customer("acme", [api_calls()])
    async with sidecar(monkeypatch, redis_env(emulator, redis)) as (app, client):
        direct = redis_client(redis)
        await direct.execute_command("REPLICAOF", "127.0.0.1", "1")  # a replica: READONLY writes
        try:
            errors = metric(app, "sidecar_redis_client_errors_total")
            r = await timed(client, check("newco-ro"))
            assert r.is_fallback is False or r.has_access  # answered (CustomerNotFound or live)
            r = await timed(client, check())
            assert not r.is_fallback and r.entitlement.usage_limit == 100
            assert metric(app, "sidecar_redis_client_errors_total") > errors
        finally:
            await direct.execute_command("REPLICAOF", "NO", "ONE")
            await close_client(direct)


@pytest.mark.parametrize("env,text", [
    ({}, "REDIS_ENVIRONMENT_PREFIX: required"),
    ({"REDIS_ENVIRONMENT_PREFIX": "p", "SERVER_API_KEY": ""}, "SERVER_API_KEY: required"),
    ({"REDIS_ENVIRONMENT_PREFIX": "p", "KEYS_TTL_IN_SECS": "0"}, "KEYS_TTL_IN_SECS: 0 is not allowed"),
    ({"REDIS_ENVIRONMENT_PREFIX": "p", "CACHE_UPDATE_POLICY": "sometimes"}, "CACHE_UPDATE_POLICY: expected one of"),
])
def test_persistent_cache_rejects_invalid_configuration(env, text):
    import os
    import subprocess
    import sys

    base = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "KEYS_"))}
    full = base | {"SERVER_API_KEY": "secret-key-1"} | env
    done = subprocess.run([sys.executable, "-c", "from bootstrap.__main__ import persistent_cache_main as m; raise SystemExit(m())"],
                          env=full, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and f"invalid configuration: {text}" in done.stderr
    assert "secret-key-1" not in done.stderr


async def test_persistent_cache_readiness_tells_the_truth(emulator, redis, monkeypatch):
    env = redis_env(emulator, redis)
    emulator.ws_refuse(True)
    async with persistent_cache(monkeypatch, env) as pcs:
        import httpx

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{pcs.http_port}") as http:
            await until(lambda: pcs.readiness() is not None and pcs.readiness() != "starting")
            r = await http.get("/readyz")
            assert r.status_code == 503 and r.json()["reason"] in ("websocket not connected", "redis unavailable")
            emulator.ws_refuse(False)
            # Live again, the service invalidates the shared cache once more ("invalidation
            # pending" meanwhile), so ready is what it settles to, not the first instant.
            deadline = asyncio.get_running_loop().time() + 10
            while (await http.get("/readyz")).status_code != 200:
                assert asyncio.get_running_loop().time() < deadline, pcs.readiness()
                await asyncio.sleep(0.05)
            assert pcs.readiness() is None
            redis.kill()
            await until(lambda: pcs.readiness() == "redis unavailable", timeout=5)
            assert (await http.get("/readyz")).json()["reason"] == "redis unavailable"
            metrics = (await http.get("/metrics")).text
            assert "persistent_cache_websocket_connected 1.0" in metrics
            assert "persistent_cache_invalidations_total" in metrics
