"""Fixtures shared by every test directory."""
from __future__ import annotations

import os
from typing import AsyncIterator

import pytest

from bootstrap import grpc_runtime

# In-process gRPC servers in the tests run as the sidecar's do (grpc reads
# GRPC_EXPERIMENTS when first imported: before anything below imports it).
grpc_runtime.prepare()

from stigg_emulator import StiggEmulator  # noqa: E402

from support.sidecar import API_KEY  # noqa: E402


if os.environ.get("TEST_EVENT_LOOP", "").strip().lower() == "uvloop":
    def pytest_asyncio_loop_factories(config, item):
        """``TEST_EVENT_LOOP=uvloop``: run the async tests on uvloop, the production
        default (``make test`` runs the integration tests and the Redis, real-time and
        fault e2e tests a second time so). Unset: pytest-asyncio's default loop (the
        hook is not defined at all: it may not answer "none")."""
        import uvloop

        return {"uvloop": uvloop.new_event_loop}


@pytest.fixture
def emulator_scenario():
    """The snapshot the emulator starts with (override in a module); ``None`` is empty."""
    return None


@pytest.fixture
async def emulator(emulator_scenario) -> AsyncIterator[StiggEmulator]:
    """The loopback Stigg emulator on 127.0.0.1:0. At teardown, every GraphQL document the
    code under test sent must have validated against the upstream schema."""
    emu = StiggEmulator(api_key=API_KEY, scenario=emulator_scenario)
    await emu.start(host="127.0.0.1", port=0)
    try:
        yield emu
        assert emu.validation_failures == []
    finally:
        await emu.stop()
