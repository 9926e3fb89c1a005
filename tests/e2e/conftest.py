"""Real boundaries for end-to-end tests: the loopback Stigg emulator, a real sidecar on
127.0.0.1:0, and both real clients (generated stubs and the official SDK)."""
from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator, Callable

import pytest
from stigg_emulator import StiggEmulator

from support.clients import CALLERS
from support.sidecar import API_KEY, PinnedWallClock, base_env, running_sidecar


@pytest.fixture
async def emulator() -> AsyncIterator[StiggEmulator]:
    emu = StiggEmulator(api_key=API_KEY)
    await emu.start(host="127.0.0.1", port=0)
    try:
        yield emu
        # Every GraphQL document the sidecar sent validated against the upstream schema.
        assert emu.validation_failures == []
    finally:
        await emu.stop()


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
