"""Real boundaries for end-to-end tests: the loopback Stigg emulator, a real sidecar on
127.0.0.1:0, and both real clients (generated stubs and the official SDK)."""
from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Callable

import pytest

from support.clients import CALLERS
from support.processes import Child
from support.processes import start_sidecar as start_sidecar_process
from support.redis_server import RedisServer
from support.sidecar import PinnedWallClock, base_env, running_sidecar




@pytest.fixture(params=sorted(CALLERS))
def caller_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def start_sidecar(monkeypatch, emulator, caller_kind) -> Callable:
    """``async with start_sidecar(**env) as (app, client)`` — extra env on top of the base."""

    @asynccontextmanager
    async def start(clock=None, **env: str):
        full = base_env(emulator.base_url) | env
        async with running_sidecar(monkeypatch, full, clock or PinnedWallClock()) as app:
            client = CALLERS[caller_kind](app.grpc_port)
            try:
                yield app, client
            finally:
                await client.close()

    return start


@pytest.fixture
async def sidecar(start_sidecar):
    async with start_sidecar() as pair:
        yield pair


@pytest.fixture
def processes():
    """``child, ready = await processes(env)`` starts a sidecar *process* (``ready`` is its
    "Sidecar is ready" log line: ``grpc_port``, ``http_port``); any still running at the
    end are killed."""
    started: list[Child] = []

    async def start(env: dict[str, str]) -> tuple[Child, dict]:
        child, ready = await asyncio.to_thread(start_sidecar_process, env)
        started.append(child)
        return child, ready

    yield start
    for child in started:
        if child.process.poll() is None:
            child.process.kill()
            child.process.wait()


@pytest.fixture
def redis():
    """A private redis-server of the test's own on a free port (never 6379 or DB 0)."""
    server = RedisServer()
    server.start()
    yield server
    server.close()
