"""DrainGate (adapters/inbound/grpc/drain.py): admit calls until draining, then wait for
the running ones."""
from __future__ import annotations

import asyncio

from adapters.inbound.grpc.drain import DrainGate


async def test_drain_with_nothing_in_flight_returns_at_once_and_refuses_new_calls():
    gate = DrainGate()
    assert gate.enter() and gate.in_flight == 1
    gate.leave()
    assert await gate.drain(0.0)
    assert gate.draining and not gate.enter() and gate.in_flight == 0


async def test_drain_waits_for_the_calls_in_flight():
    gate = DrainGate()
    assert gate.enter() and gate.enter()
    draining = asyncio.create_task(gate.drain(5.0))
    await asyncio.sleep(0.01)
    assert not draining.done() and not gate.enter()
    gate.leave()
    await asyncio.sleep(0.01)
    assert not draining.done()  # one call still runs
    gate.leave()
    assert await draining and gate.in_flight == 0


async def test_drain_gives_up_after_its_timeout():
    gate = DrainGate()
    gate.enter()
    assert not await gate.drain(0.05)
    gate.leave()
    assert await gate.drain(0.05)  # a second drain sees the gate idle
