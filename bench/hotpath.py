"""Hot-path experiments behind the findings in docs/performance.md (not part of the run).

``python -m bench.hotpath handlers [SCENARIO ...]``
    The sidecar in this process (real server, real cache, live feed from the emulator),
    the floor servicer on the same event loop, h2load from outside. For each scenario,
    alternately: the floor and the sidecar's handler; prints each handler's CPU on the
    event-loop thread *in situ* (``time.thread_time`` around the handler: a hit never
    suspends) and the loop thread's CPU per call.

``python -m bench.hotpath listener [ROUNDS]``
    The floor server (``bench.floor``, a boolean check's prebuilt answer) started
    alternately with ``GRPC_EXPERIMENTS`` at our default (``-event_engine_listener``) and
    empty (grpcio's own defaults), h2load at concurrency 64 from outside; prints calls/s
    and server CPU µs per call of each, ROUNDS times (default 5).

``python -m bench.hotpath http``
    CPU per upstream GET (Edge, 20 entitlements, JSON decoded) against the emulator with
    the sidecar's own ``StiggHttp`` (straight to httpx-aiohttp's aiohttp transport, body
    by ``fast_json``), with ``httpx.AsyncClient`` over that same transport (what the
    sidecar used before), with httpx's own transport (httpcore over anyio) and with a
    bare aiohttp session.
"""
from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

from bench import data, floor, load, procs, run

Handler = Callable[[Any, Any], Awaitable[Any]]


def _timed(name: str, handler: Handler, totals: dict[str, list[float]]) -> Handler:
    async def measured(request: Any, context: Any) -> Any:
        started = time.thread_time()
        try:
            return await handler(request, context)
        finally:
            total = totals.setdefault(name, [0.0, 0])
            total[0] += time.thread_time() - started
            total[1] += 1

    return measured


async def _handlers(upstream: str, names: list[str]) -> None:
    from adapters.inbound.grpc.server import GrpcServer
    from bootstrap.lifecycle import resolve

    env = run.sidecar_env(upstream, True, LOG_LEVEL="warn")
    app = run.in_process_sidecar(env)
    servicer = await resolve(app.container.servicer())
    chosen = [s for s in run.scenarios() if s.name in names]
    active: dict[str, Handler] = {}
    for scenario in chosen:  # the server binds handlers at start: install a switch first
        active[scenario.method] = getattr(type(servicer), scenario.method).__get__(servicer)

        async def switch(request: Any, context: Any, _method: str = scenario.method) -> Any:
            return await active[_method](request, context)

        setattr(servicer, scenario.method, switch)
    await app.start()
    try:
        while not (app._realtime and app._realtime.live):
            await asyncio.sleep(0.05)
        generator = load.choose("auto")
        for scenario in chosen:
            raw = await asyncio.to_thread(run.call, app.grpc_port, scenario.method,
                                          scenario.request)
            floor_servicer = floor.FloorServicer({scenario.method: raw})
            totals: dict[str, list[float]] = {}
            setattr(floor_servicer, scenario.method,
                    _timed("floor", getattr(floor_servicer, scenario.method), totals))
            floor_server = GrpcServer(floor_servicer, "127.0.0.1", 0)
            await floor_server.start()
            current = getattr(type(servicer), scenario.method).__get__(servicer)
            for variant in ("floor", "current") * 2:
                active[scenario.method] = _timed(variant, current, totals)
                port = floor_server.port if variant == "floor" else app.grpc_port
                totals.pop(variant, None)
                loop_started = time.thread_time()
                result = await asyncio.to_thread(
                    generator.run, load.Target(port, scenario.method, scenario.request, len(raw)),
                    8, 0.3, 2.0, os.getpid())
                cpu, calls = totals.get(variant, [0.0, 1])
                print(f"{scenario.name:>20} {variant:>8}: handler {cpu / calls * 1e6:6.1f} µs/call "
                      f"in situ; loop thread {(time.thread_time() - loop_started) / calls * 1e6:4.0f}"
                      f" µs/call (warm-up included); {result.rps:5.0f} calls/s; "
                      f"failed {result.failed}", flush=True)
            await floor_server.stop(0.5)
        generator.close()
    finally:
        await app.stop()


async def _http(upstream: str, requests: int = 300) -> None:
    import aiohttp
    import httpx

    from bootstrap import resources

    url = f"{upstream}/v1/c/{data.COLD_CUSTOMER}/entitlements-state.json"
    headers = {"X-API-KEY": data.API_KEY, "X-API-VERSION": "1"}

    async def timed(get: Callable[[], Awaitable[Any]]) -> float:
        for _ in range(20):
            await get()
        started = time.thread_time()
        for _ in range(requests):
            await get()
        return (time.thread_time() - started) / requests * 1e6

    async def with_stigg_http() -> float:
        from adapters.outbound.stigg_http import StiggHttp
        from adapters.outbound.system_clock import SystemClock
        from domain.model.budget import Budget

        clock = SystemClock()
        resource = resources.http_transport()  # the sidecar's own transport
        http = StiggHttp(await resource.__anext__(), api_key=data.API_KEY, instance_id="bench",
                         user_agent="bench", clock=clock)
        try:
            return await timed(lambda: http.get(url, "Edge", Budget.starting(clock.monotonic(), 5)))
        finally:
            await resource.aclose()

    async def with_client_over_transport() -> float:
        resource = resources.http_transport()
        client = httpx.AsyncClient(transport=await resource.__anext__(), trust_env=False)
        try:
            return await timed(lambda: _json(client.get(url, headers=headers)))
        finally:
            await client.aclose()  # closes the transport too

    async def with_httpcore() -> float:
        async with httpx.AsyncClient(trust_env=False) as client:
            return await timed(lambda: _json(client.get(url, headers=headers)))

    async def with_aiohttp() -> float:
        async with aiohttp.ClientSession() as session:
            async def get() -> Any:
                async with session.get(url, headers=headers) as response:
                    return await response.json()
            return await timed(get)

    for _ in range(2):
        print(f"µs CPU per GET + JSON: StiggHttp (transport + fast_json) "
              f"{await with_stigg_http():.0f}; httpx.AsyncClient over the same transport "
              f"{await with_client_over_transport():.0f}; httpx's own transport "
              f"{await with_httpcore():.0f}; bare aiohttp {await with_aiohttp():.0f}", flush=True)


async def _json(response: Awaitable[Any]) -> Any:
    return (await response).json()


def _listener(rounds: int, scratch: Path) -> None:
    import base64
    import json

    from bootstrap.grpc_runtime import DEFAULT_GRPC_EXPERIMENTS
    from sidecarpb.v1 import sidecar_pb2 as pb

    answer = pb.GetBooleanEntitlementResponse(has_access=True)
    answer.entitlement.feature.id = data.BOOLEAN_FEATURE
    responses = scratch / "responses.json"
    responses.write_text(json.dumps({"GetBooleanEntitlement": base64.b64encode(
        answer.SerializeToString()).decode()}))
    request = pb.GetBooleanEntitlementRequest(customer_id=data.HIT_CUSTOMER,
                                              feature_id=data.BOOLEAN_FEATURE)
    generator = load.choose("h2load")
    variants = {"ours (" + DEFAULT_GRPC_EXPERIMENTS + ")": DEFAULT_GRPC_EXPERIMENTS,
                "grpcio's defaults": ""}
    totals: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(rounds):
        for name, experiments in variants.items():
            server = procs.start("floor", [sys.executable, "-m", "bench.floor", "--responses",
                                           str(responses)],
                                 procs.python_env(GRPC_EXPERIMENTS=experiments),
                                 "Floor is ready", scratch)
            try:
                target = load.Target(server.ready["grpc_port"], "GetBooleanEntitlement",
                                     request.SerializeToString(),
                                     response_size=answer.ByteSize())
                result = generator.run(target, 64, 1.0, 4.0, server.process.pid)
            finally:
                server.stop()
            totals[name].append(result.cpu_us_per_call)
            print(f"round {round_ + 1}: GRPC_EXPERIMENTS {name:>32}: {result.rps:6.0f} calls/s, "
                  f"{result.cpu_us_per_call:4.0f} µs CPU/call", flush=True)
    for name, cpu in totals.items():
        print(f"median CPU µs/call, {name}: {sorted(cpu)[len(cpu) // 2]:.0f}")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in ("handlers", "http", "listener"):
        print(__doc__)
        return 2
    if args[0] == "listener":
        with tempfile.TemporaryDirectory(prefix="bench-hotpath-") as scratch:
            _listener(int(args[1]) if len(args) > 1 else 5, Path(scratch))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-hotpath-") as scratch:
        snapshot = data.write_snapshot(Path(scratch) / "scenario.json")
        emulator = procs.start("emulator", procs.emulator_argv(snapshot, data.API_KEY),
                               procs.python_env(), procs.EMULATOR_READY, Path(scratch))
        try:
            upstream = emulator.ready["line"].rsplit(" ", 1)[1]
            if args[0] == "http":
                asyncio.run(_http(upstream))
            else:
                names = args[1:] or ["hit_memory_metered", "hit_memory_boolean", "state_v2_50"]
                asyncio.run(_handlers(upstream, names))
        finally:
            emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
