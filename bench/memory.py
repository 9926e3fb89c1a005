"""Memory: RSS of a real sidecar process holding N customers × M entitlements, against
the serialized size of that data and against the cache's own estimate.

The cache is filled through the sidecar's real-time feed: a minimal
``graphql-transport-ws`` server here (``Feeder``: ack, subscriptions, pong) pushes one
``entitlementsUpdatedV2`` per customer, which the sidecar parses and upserts into its
in-memory LRU exactly as it does with Stigg's. Fill is done when the sidecar's
``sidecar_cache_entries`` gauge reaches N. RSS (``/proc``) is read before and after.

Three sidecars, one after another:
1. ``fill``: a bound far above the data (nothing evicted): RSS growth per entry, the
   estimate per entry (``sidecar_cache_size_bytes`` / entries = ``estimate_entry_bytes``)
   and the calibrated ``OVERHEAD_FACTOR`` = growth / ``estimate_json_bytes``.
2. ``bound (current factor)``: ``CACHE_MAX_SIZE_BYTES`` = B, fed 1.5× what B holds by the
   estimate, so the LRU evicts: RSS growth vs B (the bound holds within ±20%?).
3. ``bound (calibrated factor)``: the same with ``OVERHEAD_FACTOR`` set to the calibrated
   value in the sidecar process (a bench-only wrapper command; src/ is untouched).
"""
from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import grpc
import httpx

from bench import data, procs

ONE_GIB = 1 << 30
ONE_MIB = 1 << 20
#: Distinct usage figures across customers (the items differ by more than their ids).
VARIANTS = 16
PATCHED_FACTOR_CMD = (
    "import sys; import adapters.outbound.entry_size as sizes; "
    "sizes.OVERHEAD_FACTOR = float(sys.argv[1]); "
    "from bootstrap.__main__ import sidecar_main; sys.exit(sidecar_main())"
)


@dataclass
class MemoryConfig:
    customers: int = 100_000
    entitlements: int = data.ENTITLEMENTS_PER_CUSTOMER
    bound_bytes: int = 128 * ONE_MIB
    bound_overfill: float = 1.5
    fill_timeout_s: float = 240.0
    #: Idle time before reading RSS, and how long the entry count must hold still.
    settle_s: float = 1.0

    @classmethod
    def smoke(cls) -> "MemoryConfig":
        return cls(customers=200, bound_bytes=3 * ONE_MIB, fill_timeout_s=20.0, settle_s=0.1)


def customer_id(index: int) -> str:
    return f"mem-customer-{index:07d}"


class Payloads:
    """Per-customer ``next`` frames (text) and the serialized sizes of their data."""

    def __init__(self, entitlements: int) -> None:
        self.items_json = [
            json.dumps(data.entitlements(entitlements, seed=v), separators=(",", ":"))
            for v in range(VARIANTS)
        ]

    def frame(self, index: int, subscription_id: str) -> str:
        items = self.items_json[index % VARIANTS]
        return (
            f'{{"id":"{subscription_id}","type":"next","payload":{{"data":'
            f'{{"entitlementsUpdatedV2":{{"accountId":"bench-account",'
            f'"environmentId":"bench-env","customerId":"{customer_id(index)}",'
            f'"resourceId":null,"accessDeniedReason":null,"entitlements":{items}}}}}}}}}'
        )

    def state_json_bytes(self, index: int) -> int:
        """Compact JSON of the customer's ``entitlementsState`` (as Edge/GraphQL send it)."""
        items = self.items_json[index % VARIANTS]
        return len(f'{{"accessDeniedReason":null,"entitlementsV2":{items}}}'.encode())

    def cache_json_bytes(self, index: int) -> int:
        """Bytes of every value the sidecar's Redis cache stores for the parsed set
        (caching-and-redis.md §3.3): the entitlements JSON, the metadata JSON, one usage
        JSON per usage-tracked entitlement, and each value's ``#timestamp`` (the update
        stamps): the cached data serialized by our own codec. Key names not counted."""
        from adapters.outbound.redis_codec import (
            encode_entitlements, encode_metadata, encode_timestamp, encode_usage,
            is_usage_trackable,
        )

        entitlements = self._parsed(index)
        stamp = entitlements.timestamp_ms
        values = [(encode_entitlements(entitlements), stamp),
                  (encode_metadata(entitlements.customer_reason), stamp)]
        values += [(encode_usage(e.usage), e.usage.updated_at_ms or stamp)
                   for e in (*entitlements.features, *entitlements.credits)
                   if is_usage_trackable(e)]
        return sum(len(value.encode()) + len(encode_timestamp(at)) for value, at in values)

    def _parsed(self, index: int) -> Any:
        from adapters.outbound.stigg_payloads import read_entitlement_set
        from domain.model.identifiers import CustomerKey

        items = json.loads(self.items_json[index % VARIANTS])
        return read_entitlement_set(CustomerKey.of(customer_id(index), None), None, items, 0)

    def estimate(self, index: int) -> tuple[int, int]:
        """(``estimate_json_bytes``, ``estimate_entry_bytes``) of the parsed set, computed
        with the sidecar's own reader and estimator."""
        from adapters.outbound.entry_size import estimate_entry_bytes, estimate_json_bytes

        entitlements = self._parsed(index)
        return estimate_json_bytes(entitlements), estimate_entry_bytes(entitlements)


class Feeder:
    """The server side of graphql-transport-ws, just enough for the sidecar's client."""

    def __init__(self) -> None:
        self.socket: Any = None
        self.subscription_id: str | None = None
        self.subscribed = asyncio.Event()

    async def start(self) -> int:
        from websockets.asyncio.server import serve

        self._server = await serve(self._handle, "127.0.0.1", 0,
                                   subprotocols=["graphql-transport-ws"], compression=None,
                                   max_size=None, ping_interval=None)
        return self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, socket: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            await self._serve(socket)
        except ConnectionClosed:
            pass  # the sidecar stopped

    async def _serve(self, socket: Any) -> None:
        async for raw in socket:
            message = json.loads(raw)
            kind = message.get("type")
            if kind == "connection_init":
                await socket.send('{"type":"connection_ack"}')
            elif kind == "ping":
                await socket.send('{"type":"pong"}')
            elif kind == "subscribe":
                if "entitlementsUpdatedV2" in message.get("payload", {}).get("query", ""):
                    self.socket, self.subscription_id = socket, message["id"]
                    self.subscribed.set()

    async def push(self, payloads: Payloads, first: int, count: int) -> None:
        for index in range(first, first + count):
            await self.socket.send(payloads.frame(index, self.subscription_id))


async def _metric(client: httpx.AsyncClient, port: int, name: str) -> float:
    text = (await client.get(f"http://127.0.0.1:{port}/metrics", timeout=10)).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


async def _settled_rss(pid: int, seconds: float) -> int:
    """RSS after a short idle (allocations of the last frames done)."""
    await asyncio.sleep(seconds)
    return procs.rss_bytes(pid)


async def _fill(name: str, argv: list[str], env_extra: dict[str, str], count: int,
                payloads: Payloads, upstream: str, log_dir: Path, config: MemoryConfig,
                wait_entries: int | None, log: Callable[[str], None]) -> dict[str, Any]:
    """One sidecar: start, go live on the feeder, push ``count`` customers, measure."""
    feeder = Feeder()
    ws_port = await feeder.start()
    from bench.run import sidecar_env  # the same environment as the load run

    env = sidecar_env(upstream, True, **env_extra)
    env.update(WS_URL=f"ws://127.0.0.1:{ws_port}")
    child = await asyncio.to_thread(procs.start, name, argv, env, '"Sidecar is ready"', log_dir)
    try:
        await asyncio.wait_for(feeder.subscribed.wait(), 20)
        port = child.ready["http_port"]
        async with httpx.AsyncClient() as client:
            # One gRPC call first, so lazily built server state is in the baseline (its
            # cached answer is overwritten by the first push: no extra entry).
            await asyncio.to_thread(_state_size, child.ready["grpc_port"], customer_id(0))
            baseline = await _settled_rss(child.pid, config.settle_s)
            started = time.monotonic()
            pusher = asyncio.ensure_future(feeder.push(payloads, 0, count))
            target = count if wait_entries is None else wait_entries
            entries = 0.0
            deadline = started + config.fill_timeout_s
            while time.monotonic() < deadline:
                await asyncio.sleep(min(0.25, config.settle_s))
                entries = await _metric(client, port, "sidecar_cache_entries")
                if pusher.done() and (entries >= target or wait_entries is None):
                    break
            if not pusher.done():
                pusher.cancel()
                raise TimeoutError(f"{name}: feeding {count} customers took over "
                                   f"{config.fill_timeout_s} s")
            pusher.result()
            if wait_entries is not None and entries < target:
                raise TimeoutError(f"{name}: {entries:.0f}/{target} entries after "
                                   f"{config.fill_timeout_s} s")
            # The last frames may still be queued in the sidecar: wait for the count to settle.
            previous, stable_since = -1.0, time.monotonic()
            while time.monotonic() < deadline and time.monotonic() - stable_since < config.settle_s:
                await asyncio.sleep(min(0.25, config.settle_s))
                entries = await _metric(client, port, "sidecar_cache_entries")
                if entries != previous:
                    previous, stable_since = entries, time.monotonic()
            fill_s = time.monotonic() - started
            rss = await _settled_rss(child.pid, config.settle_s)
            estimate = await _metric(client, port, "sidecar_cache_size_bytes")
            evictions = await _metric(client, port, "sidecar_cache_evictions_total")
        sample_state = await asyncio.to_thread(_state_size, child.ready["grpc_port"],
                                               customer_id(count - 1))
        log(f"memory {name}: {entries:.0f} entries in {fill_s:.1f} s, RSS "
            f"{baseline / ONE_MIB:.0f} → {rss / ONE_MIB:.0f} MiB, estimate "
            f"{estimate / ONE_MIB:.0f} MiB, evictions {evictions:.0f}")
        return {"customers_pushed": count, "entries": int(entries), "fill_s": round(fill_s, 1),
                "rss_baseline_bytes": baseline, "rss_bytes": rss,
                "rss_growth_bytes": rss - baseline, "estimate_bytes": int(estimate),
                "evictions": int(evictions), "state_v2_response_bytes": sample_state}
    finally:
        await asyncio.to_thread(child.stop)
        await feeder.stop()


def _state_size(port: int, customer: str) -> int:
    """Serialized GetEntitlementsStateV2Response of ``customer`` (gRPC), in bytes."""
    from sidecarpb.v1 import sidecar_pb2 as pb

    request = pb.GetEntitlementsStateV2Request(customer_id=customer).SerializeToString()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        path = "/stigg.sidecar.v1.SidecarService/GetEntitlementsStateV2"
        return len(channel.unary_unary(path)(request, timeout=10))


def run(config: MemoryConfig, sidecar_cmd: list[str], default_cmd: bool, upstream: str,
        log_dir: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """``upstream``: the emulator the sidecars use for their start-up key check."""
    payloads = Payloads(config.entitlements)
    return asyncio.run(_measure_all(config, payloads, config.customers, sidecar_cmd,
                                    default_cmd, upstream, log_dir, log))


async def _measure_all(config: MemoryConfig, payloads: Payloads, n: int, sidecar_cmd: list[str],
                       default_cmd: bool, upstream: str, log_dir: Path,
                       log: Callable[[str], None]) -> dict[str, Any]:
    json_total = sum(payloads.state_json_bytes(i) for i in range(n))
    cache_json = [payloads.cache_json_bytes(v) for v in range(VARIANTS)]
    cache_json_total = sum(cache_json[i % VARIANTS] for i in range(n))
    estimates = [payloads.estimate(v) for v in range(VARIANTS)]
    est_json_total = sum(estimates[i % VARIANTS][0] for i in range(n))
    fill = await _fill("sidecar-mem-fill", sidecar_cmd, {"CACHE_MAX_SIZE_BYTES": str(64 * ONE_GIB)},
                       n, payloads, upstream, log_dir, config, n, log)
    growth = fill["rss_growth_bytes"]
    per_entry = growth / n
    calibrated = round(growth / est_json_total, 2)
    protobuf_total = fill["state_v2_response_bytes"] * n
    result: dict[str, Any] = {
        "customers": n, "entitlements_per_customer": config.entitlements,
        "fill": fill,
        "serialized": {"upstream_json_bytes": json_total, "cache_json_bytes": cache_json_total,
                       "grpc_state_v2_bytes": protobuf_total},
        "rss_growth_per_entry_bytes": round(per_entry),
        "estimate_json_bytes_per_entry": round(est_json_total / n),
        "estimate_entry_bytes_per_entry": round(fill["estimate_bytes"] / max(1, fill["entries"])),
        "overhead_factor_current": _current_factor(),
        "overhead_factor_calibrated": calibrated,
        "rss_over_json": round(fill["rss_bytes"] / json_total, 2),
        "growth_over_json": round(growth / json_total, 2),
        "rss_over_cache_json": round(fill["rss_bytes"] / cache_json_total, 2),
        "growth_over_cache_json": round(growth / cache_json_total, 2),
        "rss_over_protobuf": round(fill["rss_bytes"] / protobuf_total, 2),
        "growth_over_protobuf": round(growth / protobuf_total, 2),
        "estimate_over_growth": round(fill["estimate_bytes"] / growth, 2) if growth else None,
        "bounds": [],
    }
    factors = [("current", _current_factor(), sidecar_cmd)]
    if default_cmd:
        factors.append(("calibrated", calibrated,
                        [sys.executable, "-c", PATCHED_FACTOR_CMD, str(calibrated)]))
    async def bound_run(label: str, factor: float, argv: list[str]) -> dict[str, Any]:
        per_entry_estimate = sum(e[0] for e in estimates) / VARIANTS * factor
        count = max(10, int(config.bound_bytes / per_entry_estimate * config.bound_overfill))
        bound = await _fill(f"sidecar-mem-bound-{label}", argv,
                            {"CACHE_MAX_SIZE_BYTES": str(config.bound_bytes)}, count, payloads,
                            upstream, log_dir, config, None, log)
        bound.update(label=label, overhead_factor=factor, bound_bytes=config.bound_bytes,
                     growth_over_bound=round(bound["rss_growth_bytes"] / config.bound_bytes, 2))
        return bound

    # Side by side: RSS is per process, and each has a core of its own.
    result["bounds"] = list(await asyncio.gather(*(bound_run(*f) for f in factors)))
    return result


def _current_factor() -> float:
    from adapters.outbound.entry_size import OVERHEAD_FACTOR

    return OVERHEAD_FACTOR
