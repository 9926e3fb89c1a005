"""Usage buffering (USAGE_BUFFERING=true), end to end: real sidecar processes
(``python -m bootstrap``) in front of the loopback emulator, over gRPC.

"Exactly once" is judged at the emulator: ``usage_measurements`` holds what was applied
(idempotent replays excluded), ``usage_inputs`` every item received.
"""
from __future__ import annotations

import asyncio
import json
import re
import signal
from pathlib import Path

import grpc
import httpx
import pytest
from stigg_emulator import feature

from sidecarpb.v1 import sidecar_pb2 as pb
from support.process_helpers import eventually, stub_at
from support.requests import metered_request
from support.sidecar import base_env

GRACE_MS = 3000


def buffering_env(emulator, directory: Path, **extra: str) -> dict[str, str]:
    return base_env(emulator.base_url) | {
        "USAGE_BUFFERING": "true",
        "OUTBOX_DIR": str(directory),
        "API_TIMEOUT_MS": "1000",
        "ENTITLEMENTS_TIMEOUT_MS": "1000",
        "SHUTDOWN_GRACE_MS": str(GRACE_MS),
        "OUTBOX_RETRY_INITIAL_MS": "100",
        "OUTBOX_RETRY_MAX_MS": "500",
        "LOG_LEVEL": "info",
    } | extra








async def metric(http_port: int, name: str) -> float:
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{http_port}/metrics")).text
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


def usage(value: float, feature_id: str = "api-calls", **fields) -> pb.ReportUsageRequest:
    return pb.ReportUsageRequest(customer_id="acme", feature_id=feature_id, value=value,
                                 update_behavior=pb.USAGE_UPDATE_BEHAVIOR_DELTA, **fields)


def api_calls(emulator, current: float = 40) -> None:
    emulator.set_customer("acme", [
        feature("api-calls", "NUMBER", "Incremental", usageLimit=100, currentUsage=current),
        feature("seats", "NUMBER", "Incremental", usageLimit=10, currentUsage=0)])


def inputs_with(emulator, key: str) -> list[dict]:
    return [i for i in emulator.usage_inputs if i.get("idempotencyKey") == key]


async def test_outage_delta_is_answered_locally_then_delivered_once_with_the_same_key(
        emulator, tmp_path, processes):
    api_calls(emulator)
    child, ready = await processes(buffering_env(emulator, tmp_path / "outbox"))
    async with stub_at(ready["grpc_port"]) as stub:
        await stub.GetMeteredEntitlement(metered_request("acme", "api-calls"), timeout=10)  # cached
        emulator.set_fault("down")
        answer = await stub.ReportUsage(usage(5), timeout=10)
        assert answer.measurement_id.startswith("local-")
        key = answer.measurement_id.removeprefix("local-")
        assert answer.current_usage == 45
        assert (answer.customer_id, answer.feature_id) == ("acme", "api-calls")
        check = await stub.GetMeteredEntitlement(metered_request("acme", "api-calls"), timeout=10)
        assert check.entitlement.current_usage == 45  # the local value, while still down
        assert emulator.get_usage("acme", "api-calls") == 40 and not inputs_with(emulator, key)
        assert await metric(ready["http_port"], "sidecar_usage_outbox_items") == 1
        assert await metric(ready["http_port"], "sidecar_usage_outbox_oldest_age_seconds") >= 0

        emulator.clear_faults()
        await eventually(lambda: emulator.get_usage("acme", "api-calls") == 45, "the delivery")
        await asyncio.sleep(1.5)  # nothing more may arrive
        assert emulator.get_usage("acme", "api-calls") == 45  # rose once
        received = inputs_with(emulator, key)
        assert len(received) >= 1 and emulator.applied_usage_keys == 1
        assert received[0]["updateBehavior"] == "DELTA" and received[0]["value"] == 5
        assert received[0]["createdAt"]  # fixed at acceptance
        assert await metric(ready["http_port"], "sidecar_usage_outbox_items") == 0
        assert await metric(ready["http_port"], "sidecar_usage_outbox_delivered_total") == 1
        assert await metric(ready["http_port"], "sidecar_usage_outbox_oldest_age_seconds") == -1
        # Delivered: the next report goes straight through again.
        direct = await stub.ReportUsage(usage(1), timeout=10)
        assert not direct.measurement_id.startswith("local-") and direct.current_usage == 46
    assert child.stop() == 0


async def test_sigkill_after_acceptance_then_restart_delivers_the_report(emulator, tmp_path, processes):
    api_calls(emulator)
    directory = tmp_path / "outbox"
    emulator.set_fault("down")
    child, ready = await processes(buffering_env(emulator, directory))
    async with stub_at(ready["grpc_port"]) as stub:
        answers = [await stub.ReportUsage(usage(value), timeout=10) for value in (2, 3)]
    keys = [a.measurement_id.removeprefix("local-") for a in answers]
    assert all(a.measurement_id.startswith("local-") for a in answers)
    assert not any(a.HasField("current_usage") for a in answers)  # not cached: unknown
    child.process.send_signal(signal.SIGKILL)
    assert await asyncio.to_thread(child.process.wait, 30) == -signal.SIGKILL
    assert emulator.usage_measurements == []

    emulator.clear_faults()
    child, ready = await processes(buffering_env(emulator, directory))
    await eventually(lambda: emulator.get_usage("acme", "api-calls") == 45, "delivery after restart")
    await asyncio.sleep(1.0)
    assert emulator.get_usage("acme", "api-calls") == 45
    assert [m["value"] for m in emulator.usage_measurements] == [2, 3]  # oldest first
    assert {i["idempotencyKey"] for i in emulator.usage_inputs} == set(keys)
    assert child.stop() == 0


async def test_sigterm_flushes_buffered_usage_once_the_upstream_is_back(emulator, tmp_path, processes):
    api_calls(emulator)
    emulator.set_fault("down")
    child, ready = await processes(buffering_env(emulator, tmp_path / "outbox",
                                                 OUTBOX_RETRY_INITIAL_MS="60000",
                                                 OUTBOX_RETRY_MAX_MS="60000"))
    async with stub_at(ready["grpc_port"]) as stub:
        await stub.ReportUsage(usage(5), timeout=10)
    await asyncio.sleep(0.5)  # the sender failed once and now waits a minute
    emulator.clear_faults()
    child.process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(child.process.wait, 30) == 0
    assert emulator.get_usage("acme", "api-calls") == 45


async def test_without_buffering_an_outage_answers_unavailable_as_before(emulator, tmp_path, processes):
    api_calls(emulator)
    env = buffering_env(emulator, tmp_path / "outbox")
    del env["USAGE_BUFFERING"]
    emulator.set_fault("down")
    child, ready = await processes(env)
    async with stub_at(ready["grpc_port"]) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ReportUsage(usage(5), timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert caught.value.details().startswith("Failed to report usage: upstream unavailable")
    assert not (tmp_path / "outbox" / "usage").exists()
    emulator.clear_faults()
    await asyncio.sleep(1.0)
    assert emulator.usage_measurements == []
    assert child.stop() == 0


async def test_invalid_input_is_invalid_argument_and_never_buffered(emulator, tmp_path, processes):
    api_calls(emulator)
    emulator.set_fault("down")
    child, ready = await processes(buffering_env(emulator, tmp_path / "outbox"))
    async with stub_at(ready["grpc_port"]) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ReportUsage(usage(5, feature_id=""), timeout=10)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "feature_id must not be empty" in caught.value.details()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ReportUsageBulk(pb.ReportUsageBulkRequest(usages=[
                usage(1), usage(float("nan"))]), timeout=10)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert await metric(ready["http_port"], "sidecar_usage_outbox_items") == 0
        assert await metric(ready["http_port"], "sidecar_usage_outbox_accepted_total") == 0
    emulator.clear_faults()
    await asyncio.sleep(1.0)
    assert emulator.usage_inputs == []
    assert child.stop() == 0


async def test_a_buffered_report_upstream_refuses_is_dropped_logged_and_counted(
        emulator, tmp_path, processes):
    api_calls(emulator)
    emulator.set_fault("down")
    child, ready = await processes(buffering_env(emulator, tmp_path / "outbox"))
    port = ready["http_port"]
    async with stub_at(ready["grpc_port"]) as stub:
        refused = await stub.ReportUsage(usage(5), timeout=10)
        refused_key = refused.measurement_id.removeprefix("local-")
        # The upstream comes back, but refuses usage reports as invalid input (no await in
        # between: the sender cannot slip through).
        emulator.clear_faults()
        for operation in ("reportUsage", "reportUsageBulk"):
            emulator.set_fault("graphql_error", target="graphql", operation=operation,
                               code="BadUserInput", message="Usage value out of range")
        await eventually(lambda: any("upstream refused" in line for line in child.lines), "the log line")
        assert await metric(port, "sidecar_usage_outbox_rejected_upstream_total") == 1
        assert await metric(port, "sidecar_usage_outbox_items") == 0
        logged = [json.loads(line) for line in child.lines if "upstream refused" in line]
        assert [(e["level"], e["idempotency_key"], e["feature_id"]) for e in logged] == [
            ("error", refused_key, "api-calls")]
        emulator.clear_faults()
        await asyncio.sleep(1.0)
        assert emulator.get_usage("acme", "api-calls") == 40  # dropped, never applied
        assert emulator.usage_inputs == []
        # Nothing is queued any more: the next report goes straight through.
        direct = await stub.ReportUsage(usage(1), timeout=10)
        assert not direct.measurement_id.startswith("local-") and direct.current_usage == 41
    assert child.stop() == 0
