"""The Redis-stream event outbox end to end: real sidecar processes in Redis mode
(EVENTS_MODE=outbox, OUTBOX_BACKEND=auto) sharing a private redis-server, in front of
the loopback emulator. Exactly once is judged at the emulator (``emulator.events``: one
entry per idempotency key; ``emulator.events_received``: every copy)."""
from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from sidecarpb.v1 import sidecar_pb2 as pb
from support.process_helpers import eventually, on_port, stub_at
from support.redis_server import TEST_DB, RedisServer, close_client, redis_client
from support.sidecar import base_env

PREFIX = "e2e-outbox"
STREAM = f"{PREFIX}:outbox:events"
GRACE_MS = 3000


def redis_outbox_env(emulator, server: RedisServer, outbox_dir: Path, **extra: str) -> dict[str, str]:
    return base_env(emulator.base_url) | {
        "REDIS_ENVIRONMENT_PREFIX": PREFIX, "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": str(server.port), "REDIS_DB": str(TEST_DB),
        "EVENTS_MODE": "outbox",
        "OUTBOX_DIR": str(outbox_dir),  # ignored in Redis mode: the test checks it stays unused
        "API_TIMEOUT_MS": "5000",
        "SHUTDOWN_GRACE_MS": str(GRACE_MS),
        "OUTBOX_RETRY_MAX_MS": "1000",
        "LOG_LEVEL": "info",
    } | extra






def request(keys: list[str]) -> pb.ReportEventsRequest:
    return pb.ReportEventsRequest(events=[
        pb.Event(event_name="flood", customer_id="acme", idempotency_key=key) for key in keys])




async def stream_length(server: RedisServer) -> int:
    client = redis_client(server)
    try:
        return await client.xlen(STREAM)
    finally:
        await close_client(client)


async def pending(server: RedisServer) -> int:
    client = redis_client(server)
    try:
        return (await client.xpending(STREAM, "sidecars"))["pending"]
    finally:
        await close_client(client)


async def test_events_reported_to_two_sidecars_during_an_outage_are_delivered_exactly_once(
        emulator, redis, tmp_path, processes):
    emulator.set_fault("down")
    env = redis_outbox_env(emulator, redis, tmp_path / "outbox")
    (first, first_port), (second, second_port) = await on_port(processes, env), await on_port(processes, env)
    keys = [f"outage-{i}" for i in range(1000)]
    async with stub_at(first_port) as one, stub_at(second_port) as other:
        await asyncio.gather(*(
            (one if i % 20 == 0 else other).ReportEvents(request(keys[i : i + 10]), timeout=10)
            for i in range(0, 1000, 10)))
    assert await stream_length(redis) == 1000, "queued in the shared stream"
    assert not (tmp_path / "outbox").exists(), "no file outbox in Redis mode"
    await asyncio.sleep(2.0)  # both keep retrying
    assert emulator.events_received == []
    emulator.clear_faults()
    await eventually(lambda: len(emulator.events) == 1000, "1000 distinct events upstream")
    await asyncio.sleep(1.0)  # nothing more may arrive
    assert set(emulator.events) == set(keys)
    assert len(emulator.events_received) == 1000, "each event delivered once"
    assert await stream_length(redis) == 0
    for child in (first, second):
        child.process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(child.process.wait, 30) == 0
        log = "".join(child.lines)
        assert "event outbox closed" in log and "could not release" not in log


async def test_a_sigkilled_sidecars_queued_events_are_delivered_by_a_restarted_one(
        emulator, redis, tmp_path, processes):
    emulator.set_fault("slow", target="all", operation="reportEvent", delay_ms=200)
    env = redis_outbox_env(emulator, redis, tmp_path / "outbox", OUTBOX_CLAIM_IDLE_MS="2000")
    child, port = await on_port(processes, env)
    accepted: set[str] = set()
    attempted: set[str] = set()

    async def caller(stub, worker: int) -> None:
        sent = 0
        while len(accepted) < 2000:
            keys = [f"kill-{worker}-{sent + i}" for i in range(10)]
            sent += 10
            attempted.update(keys)
            await stub.ReportEvents(request(keys), timeout=10)
            accepted.update(keys)

    async with stub_at(port) as stub:
        await asyncio.gather(*(caller(stub, w) for w in range(8)))
    assert len(emulator.events) < len(accepted), "events were still queued at the kill"
    child.process.send_signal(signal.SIGKILL)
    assert await asyncio.to_thread(child.process.wait, 30) == -signal.SIGKILL
    assert await pending(redis) > 0, "the killed sidecar held a batch it had read"
    emulator.clear_faults()

    await processes(env)
    await eventually(lambda: accepted <= set(emulator.events),
                     "every accepted event upstream after the restart")
    # The batch the killed sidecar had sent but not acknowledged is reclaimed once idle
    # for OUTBOX_CLAIM_IDLE_MS, sent again (deduplicated upstream) and acknowledged.
    for _ in range(300):
        if await stream_length(redis) == 0:
            break
        await asyncio.sleep(0.1)
    assert await stream_length(redis) == 0, "the reclaimed batch was acknowledged"
    assert set(emulator.events) <= attempted  # nothing invented
    duplicates = len(emulator.events_received) - len(emulator.events)
    assert duplicates <= 1000, "only the batch in flight at the kill may be sent twice"
