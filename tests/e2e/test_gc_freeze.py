"""GC_FREEZE_INTERVAL_MS in a real sidecar process: long-lived objects are frozen out of
the cyclic GC at start-up and periodically, shown by ``sidecar_gc_frozen_objects``."""
from __future__ import annotations

import asyncio

import httpx

from support.requests import metered_request
from support.process_helpers import stub_at
from support.sidecar import base_env


def frozen_objects(http_port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{http_port}/metrics", timeout=5).text
    line = next(l for l in text.splitlines() if l.startswith("sidecar_gc_frozen_objects "))
    return float(line.split()[1])


async def test_objects_are_frozen_and_checks_keep_answering(emulator, processes):
    emulator.set_customer("acme", [])
    child, ready = await processes(base_env(emulator.base_url) | {"GC_FREEZE_INTERVAL_MS": "200"})
    first = await asyncio.to_thread(frozen_objects, ready["http_port"])
    assert first > 10_000  # at least the modules loaded at start-up
    async with stub_at(ready["grpc_port"]) as stub:
        for _ in range(50):
            await stub.GetMeteredEntitlement(metered_request("acme", "api-calls"), timeout=5)
    await asyncio.sleep(0.6)
    # Still frozen (the count drops as frozen objects are freed by reference counting).
    assert await asyncio.to_thread(frozen_objects, ready["http_port"]) > 10_000
    assert child.stop() == 0


async def test_zero_turns_it_off(emulator, processes):
    child, ready = await processes(base_env(emulator.base_url))
    assert await asyncio.to_thread(frozen_objects, ready["http_port"]) == 0
    assert child.stop() == 0
