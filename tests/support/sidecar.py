"""Run a real sidecar in the test's event loop: real gRPC and HTTP listeners on
127.0.0.1:0, configured through the environment exactly as in production."""
from __future__ import annotations

import time
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import AsyncIterator

import grpc
import pytest
from dependency_injector import providers

from bootstrap.app import SidecarApp
from bootstrap.settings import load_sidecar_settings
from ports.clock import Clock
from sidecarpb.v1 import sidecar_pb2_grpc

API_KEY = "test-server-key-123"
#: The vectors' "now" (vectors.md, common setup).
VECTOR_NOW = datetime(2025, 7, 10, 15, 30, tzinfo=timezone.utc)


class PinnedWallClock(Clock):
    """Wall time pinned to a moment (usage periods); monotonic time stays real (budgets)."""

    def __init__(self, moment: datetime = VECTOR_NOW) -> None:
        self.now = moment

    def now_ms(self) -> int:
        return int(self.now.timestamp() * 1000)

    def monotonic(self) -> float:
        return time.monotonic()


def base_env(upstream_url: str) -> dict[str, str]:
    return {
        "SERVER_API_KEY": API_KEY,
        "API_URL": upstream_url,
        "EDGE_API_URL": upstream_url,
        "WS_ENABLED": "false",
        "PORT": "0",
        "HTTP_PORT": "0",
        "BIND_ADDRESS": "127.0.0.1",
        "CACHE_MAX_SIZE_BYTES": str(64 * 1024 * 1024),
        "LOG_LEVEL": "debug",
        # Outbox tests opt in with their own OUTBOX_DIR; the rest keep Stigg's synchronous
        # ReportEvents, which their assertions are written against.
        "EVENTS_MODE": "passthrough",
        # Many sidecars run inside the pytest process: freezing its objects would keep
        # the test run's cyclic garbage forever. test_gc_policy turns it on.
        "GC_FREEZE_INTERVAL_MS": "0",
    }


@asynccontextmanager
async def running_sidecar(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], clock: Clock | None = None
) -> AsyncIterator[SidecarApp]:
    """Start a sidecar configured by ``env`` (other sidecar variables cleared)."""
    for name in list(__import__("os").environ):
        if name.startswith(("REDIS_", "STIGG_")) or name in {
            "ENTITLEMENTS_FALLBACK", "OFFLINE", "EDGE_ENABLED", "WS_URL", "API_TIMEOUT_MS",
            "ENTITLEMENTS_TIMEOUT_MS", "SHUTDOWN_GRACE_MS"}:
            monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings, fallbacks, _ = load_sidecar_settings()
    app = SidecarApp(settings, fallbacks)
    if clock is not None:
        app.container.clock.override(providers.Object(clock))
    await app.start()
    try:
        yield app
    finally:
        await app.stop()
        app.container.clock.reset_override()


@asynccontextmanager
async def stub_for(app: SidecarApp) -> AsyncIterator[sidecar_pb2_grpc.SidecarServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
        yield sidecar_pb2_grpc.SidecarServiceStub(channel)


def metric(app: SidecarApp, name: str, labels: dict[str, str] | None = None) -> float:
    """A sample of the sidecar's own Prometheus registry (0 when absent)."""
    registry = app.container.telemetry().registry
    return registry.get_sample_value(name, labels or {}) or 0.0
