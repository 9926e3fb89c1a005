"""The process as an operator sees it: configuration errors, readiness, probes, health,
reflection, JSON logs without secrets, and graceful shutdown on SIGTERM."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from stigg_emulator import feature

from sidecarpb.v1 import sidecar_pb2 as pb
from support.errors import status_name
from support.sidecar import API_KEY, base_env

SERVICE = "stigg.sidecar.v1.SidecarService"


def sidecar_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "ENTITLEMENTS_"))}
    return env | extra


@pytest.mark.parametrize("variable,value,text", [
    ("PORT", "http", 'PORT: expected an integer 0-65535, got "http"'),
    ("ENTITLEMENTS_FALLBACK", '{"x": {"hasAccess": "yes"}}', 'ENTITLEMENTS_FALLBACK: entry "x": "hasAccess" has the wrong JSON type'),
    ("LOG_LEVEL", "verbose", "LOG_LEVEL: expected one of error, warn, info, debug"),
    ("SERVER_API_KEY", "", "SERVER_API_KEY: required unless OFFLINE=true"),
    ("WS_ENABLED", "yes", 'WS_ENABLED: expected one of 1, 0, true, false, got "yes"'),
    ("SERVER_API_KEY", "   ", "SERVER_API_KEY: required unless OFFLINE=true"),
    ("BIND_ADDRESS", "999.1.1.1", 'BIND_ADDRESS: expected an IP address or host name'),
    ("PORT", "\uff11\uff12", "PORT: expected an integer 0-65535"),
    ("ENTITLEMENTS_FALLBACK", '{"a":{"usageLimit":NaN}}', "ENTITLEMENTS_FALLBACK: not valid JSON (NaN"),
    ("ENTITLEMENTS_FALLBACK", '{"a":{},"a":{}}', 'ENTITLEMENTS_FALLBACK: key "a" appears twice'),
    ("OUTBOX_BACKEND", "s3", 'OUTBOX_BACKEND: expected one of auto, file, redis, got "s3"'),
    ("EVENT_LOOP", "tokio", 'EVENT_LOOP: expected one of auto, uvloop, asyncio, got "tokio"'),
    ("OUTBOX_BACKEND", "redis", "OUTBOX_BACKEND: redis needs Redis mode (REDIS_ENVIRONMENT_PREFIX)"),
])
def test_invalid_configuration_exits_non_zero_naming_the_variable(variable, value, text):
    value = value.encode().decode("unicode_escape") if "\\u" in value else value
    env = sidecar_env(SERVER_API_KEY="sk-secret-value", REDIS_PASSWORD="redis-secret") | {variable: value}
    done = subprocess.run([sys.executable, "-m", "bootstrap"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert f"invalid configuration: {text}" in done.stderr
    assert "sk-secret-value" not in done.stderr + done.stdout
    assert "redis-secret" not in done.stderr + done.stdout


@pytest.fixture
def process(emulator):
    emulator.set_customer("acme", [feature("sso")])
    env = sidecar_env(**base_env(emulator.base_url), REDIS_PASSWORD="redis-pass-xyz")
    env.pop("GRPC_EXPERIMENTS", None)  # the sidecar's own default applies
    child = subprocess.Popen([sys.executable, "-m", "bootstrap"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    yield child
    if child.poll() is None:
        child.kill()
        child.wait()


async def _ready_line(child: subprocess.Popen) -> dict:
    loop = asyncio.get_running_loop()
    lines = []
    while True:
        line = await loop.run_in_executor(None, child.stdout.readline)
        if not line:
            raise AssertionError(f"sidecar exited: {child.wait()} {child.stderr.read()} {lines}")
        lines.append(line)
        entry = json.loads(line)
        if entry["message"] == "Sidecar is ready":
            return entry


async def test_process_serves_probes_health_reflection_and_stops_on_sigterm(process, emulator):
    ready = await _ready_line(process)
    grpc_port, http_port = ready["grpc_port"], ready["http_port"]
    assert ready["event_loop"] == "uvloop"  # EVENT_LOOP=auto with uvloop installed
    assert ready["grpc_experiments"] == "-event_engine_listener"
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}") as http:
        assert (await http.get("/livez")).json() == {"status": "UP"}
        readyz = await http.get("/readyz")
        assert (readyz.status_code, readyz.json()) == (
            200, {"status": "UP", "realtime": {"enabled": False}})
        metrics = (await http.get("/metrics")).text
        assert "sidecar_cache_misses_total" in metrics
        assert (await http.get("/nope")).status_code == 404
        assert (await http.post("/livez")).status_code == 405
    async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("", SERVICE):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=name))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
        replies = [r async for r in reflect.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]))]
        names = {s.name for s in replies[0].list_services_response.service}
        assert SERVICE in names
        stub = __import__("sidecarpb.v1.sidecar_pb2_grpc", fromlist=["x"]).SidecarServiceStub(channel)
        answer = await stub.GetBooleanEntitlement(pb.GetBooleanEntitlementRequest(
            customer_id="acme", feature_id="sso"))
        assert answer.has_access
        emulator.set_fault("unauthorized")  # an upstream failure whose message could echo the key
        answer = await stub.GetBooleanEntitlement(pb.GetBooleanEntitlementRequest(
            customer_id="newco", feature_id="sso"))
        assert answer.is_fallback
        emulator.set_fault("none")
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    out, err = await asyncio.get_running_loop().run_in_executor(None, process.communicate)
    assert process.returncode == 0
    assert time.monotonic() - started < 10
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert [l["message"] for l in lines][-2:] == ["shutting down", "stopped"]
    assert API_KEY not in out + err and "redis-pass-xyz" not in out + err
    assert any(l["level"] == "warn" and l["logger"] == "sidecar.load" for l in lines)


async def test_drain_reports_not_ready_and_finishes_in_flight_calls(emulator, start_sidecar):
    async with start_sidecar(SHUTDOWN_GRACE_MS="5000") as (app, client):
        emulator.set_customer("acme", [feature("sso")])
        emulator.set_fault("slow", target="edge", delay_ms=800)
        in_flight = asyncio.ensure_future(client.call(
            "GetBooleanEntitlement", pb.GetBooleanEntitlementRequest(customer_id="acme", feature_id="sso")))
        await asyncio.sleep(0.2)
        stopping = asyncio.ensure_future(app.stop())
        await asyncio.sleep(0.1)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as http:
            readyz = await http.get("/readyz")
        assert readyz.status_code == 503
        assert readyz.json()["status"] == "DOWN" and readyz.json()["reason"] == "shutting down"
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
            health = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=SERVICE))
        assert health.status == health_pb2.HealthCheckResponse.NOT_SERVING
        with pytest.raises(Exception) as refused:
            await client.call("GetBooleanEntitlement", pb.GetBooleanEntitlementRequest(
                customer_id="acme", feature_id="sso"))
        assert status_name(refused.value) == "UNAVAILABLE"
        answer = await in_flight
        assert answer.has_access and not answer.is_fallback
        await stopping


def test_container_wiring_resolves(monkeypatch):
    """Both the container graph and its declared dependencies are complete."""
    from bootstrap.containers import SidecarContainer
    from bootstrap.settings import load_sidecar_settings

    for name, value in base_env("http://127.0.0.1:9").items():
        monkeypatch.setenv(name, value)
    settings, fallbacks, _ = load_sidecar_settings()
    container = SidecarContainer(settings=settings, fallbacks=fallbacks)
    container.check_dependencies()


def test_bind_failure_exits_1_with_one_clear_line():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = sidecar_env(SERVER_API_KEY="k", PORT="0", HTTP_PORT=str(port), BIND_ADDRESS="127.0.0.1")
        done = subprocess.run([sys.executable, "-m", "bootstrap"], env=env, capture_output=True,
                              text=True, timeout=60)
    assert done.returncode == 1
    assert "could not start:" in done.stderr and "address already in use" in done.stderr
    assert "Traceback" not in done.stderr


async def test_workers_share_the_ports_and_stop_together(emulator):
    import socket as sockets

    def free() -> int:
        with sockets.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return probe.getsockname()[1]

    emulator.set_customer("acme", [feature("sso")])
    grpc_port, http_port = free(), free()
    env = sidecar_env(**base_env(emulator.base_url)) | {"WORKERS": "2", "PORT": str(grpc_port),
                                                        "HTTP_PORT": str(http_port)}
    child = subprocess.Popen([sys.executable, "-m", "bootstrap"], env=env, start_new_session=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        loop = asyncio.get_running_loop()
        ready = 0
        while ready < 2:
            line = await loop.run_in_executor(None, child.stdout.readline)
            assert line, "supervisor exited"
            ready += '"Sidecar is ready"' in line
        emulator.reset_counters()
        for _ in range(12):  # separate connections land on both workers
            async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
                stub = __import__("sidecarpb.v1.sidecar_pb2_grpc", fromlist=["x"]).SidecarServiceStub(channel)
                r = await stub.GetBooleanEntitlement(pb.GetBooleanEntitlementRequest(
                    customer_id="acme", feature_id="sso"), timeout=5)
                assert r.has_access
            async with httpx.AsyncClient() as http:
                assert (await http.get(f"http://127.0.0.1:{http_port}/readyz")).status_code == 200
        instances = {r.headers.get("x-sdk-instance-id") for r in emulator.requests if r.kind == "edge"}
        assert len(instances) == 2  # both workers served checks
        child.send_signal(signal.SIGTERM)
        code = await loop.run_in_executor(None, child.wait, 20)
        assert code == 0
    finally:
        import os

        try:
            os.killpg(child.pid, signal.SIGKILL)  # the supervisor and its workers
        except ProcessLookupError:
            pass
