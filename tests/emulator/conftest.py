"""Fixtures for the Stigg emulator's own tests: a started emulator and a client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
from emu_helpers import API_KEY, HEADERS, NOW_MS

from stigg_emulator import DEMO_SCENARIO, StiggEmulator


@pytest_asyncio.fixture
async def emu() -> AsyncIterator[StiggEmulator]:
    async with StiggEmulator(api_key=API_KEY, scenario=DEMO_SCENARIO,
                             clock=lambda: NOW_MS) as emulator:
        yield emulator


@pytest_asyncio.fixture
async def client(emu: StiggEmulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=emu.base_url, headers=HEADERS,
                                 timeout=5.0) as http:
        yield http
