"""What each layer of a Redis hit costs: ``python -m bench.layers [--callgrind] [-n N]``.

The sidecar runs in this process in Redis mode (a throwaway redis-server, the emulator
as a process). After one call through gRPC has filled Redis, the same Redis hit is
driven *directly*, layer by layer, from the floor's one-key ``GET`` down to the whole
servicer method, by 8 concurrent tasks on the event loop (no gRPC in between):

  floor_get   the floor's GET of a value as large as the customer's value key
  mget        the cache's prepacked 16-key MGET (redis-py, no guard)
  guard       the same MGET through ``RedisGuard`` (the 1 s bound of §3.8)
  cache_read  ``RedisCache.read`` (checks, decode memo, the same set object)
  loader      ``LoadEntitlements.execute`` (the read algorithm, expiry, counters)
  use_case    ``CheckTypedEntitlement.answer`` with the stored freshness (UNCHANGED)
  servicer    ``SidecarServicer.GetMeteredEntitlement`` on the request bytes

Each line's difference with the line above is what that layer adds. Without
``--callgrind`` it prints process CPU µs per call (median of 5 rounds; noisy on a shared
VM). Under ``valgrind --tool=callgrind`` with ``--callgrind`` it prints instructions per
call instead, from a dump per layer (``callgrind_control -d``): repeatable whatever
else the machine does, which is how the Redis figures in docs/performance.md were
found::

    PYTHONHASHSEED=0 valgrind --tool=callgrind --dump-instr=no \\
        .venv/bin/python -m bench.layers --callgrind        # ~3 minutes

Not part of ``python -m bench``.
"""
from __future__ import annotations

import argparse
import asyncio
import glob
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

from bench import data, procs, run

CONCURRENCY = 8
FLOOR_KEY = "bench-layers:floor"


class _Context:
    """What the servicer asks of a grpc.aio context on a successful read."""

    def time_remaining(self) -> None:
        return None

    async def abort(self, *args: Any) -> None:
        raise RuntimeError(f"aborted: {args}")

    def set_trailing_metadata(self, metadata: Any) -> None:
        pass


async def _layers(upstream: str, redis: run.LocalRedis) -> tuple[dict[str, Callable[[], Awaitable[Any]]], Any, Any]:
    """(layer name → one call, the running app, the floor client's resource to close)."""
    from bootstrap import resources
    from bootstrap.lifecycle import resolve
    from domain.model.identifiers import CustomerKey
    from domain.model.kinds import FeatureKind
    from domain.services.check_entitlement import feature_expired

    env = run.sidecar_env(upstream, False, LOG_LEVEL="warn", REDIS_ENVIRONMENT_PREFIX=run.REDIS_PREFIX,
                          REDIS_HOST="127.0.0.1", REDIS_PORT=str(redis.port))
    app = run.in_process_sidecar(env)
    await app.start()
    scenario = next(s for s in run.scenarios() if s.name == "hit_redis_metered")
    for _ in range(2):  # the first fills Redis, the second stores the response
        await asyncio.to_thread(run.call, app.grpc_port, scenario.method, scenario.request)
    servicer = await resolve(app.container.servicer())
    cache = await resolve(app.container.cache())
    loader = await resolve(app.container.loader())
    key = CustomerKey.of(data.HIT_CUSTOMER)
    stored = servicer._memos[scenario.method].stored(scenario.request)
    known, (_, query) = stored[0], stored[2]
    command = cache._decoded.get(key).read_command
    client, guard = cache._client, cache._guard
    floor_resource = resources.redis_client(
        host="127.0.0.1", port=redis.port, db=0, username=None, password=None, tls=False)
    floor_client = await floor_resource.__anext__()
    size = await asyncio.to_thread(run.redis_value_size, redis.client(), data.HIT_CUSTOMER)
    await floor_client.set(FLOOR_KEY, b"x" * size)
    method, context = getattr(servicer, scenario.method), _Context()
    expired = feature_expired(query.feature_id)
    budget = (await resolve(app.container.read_context())).fetch_budget()
    typed = servicer._uc.typed
    layers = {
        "floor_get": lambda: floor_client.get(FLOOR_KEY),
        "mget": lambda: client.execute_command(command),
        "guard": lambda: guard.run("read", client.execute_command, command),
        "cache_read": lambda: cache.read(key),
        "loader": lambda: loader.execute(key, budget, expired),
        "use_case": lambda: typed.answer(FeatureKind.METERED, key, query, None, known),
        "servicer": lambda: method(scenario.request, context),
    }
    return layers, app, floor_resource


async def _drive(layer: Callable[[], Awaitable[Any]], calls: int) -> None:
    async def worker() -> None:
        for _ in range(calls // CONCURRENCY):
            await layer()

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


async def _measure(upstream: str, redis: run.LocalRedis, calls: int, callgrind: bool) -> str:
    layers, app, floor_resource = await _layers(upstream, redis)
    lines = []
    try:
        if callgrind:
            for name, layer in layers.items():
                await _drive(layer, 200)  # warm
                _dump(f"pre-{name}")
                await _drive(layer, calls)
                _dump(f"run-{name}")
        else:
            cpu: dict[str, list[float]] = {name: [] for name in layers}
            for _ in range(5):
                for name, layer in layers.items():
                    started = time.process_time()
                    await _drive(layer, calls)
                    cpu[name].append((time.process_time() - started) / calls * 1e6)
            for name, values in cpu.items():
                lines.append(f"{name:>10}: {statistics.median(values):6.1f} µs CPU per call "
                             f"(rounds {min(values):.0f}–{max(values):.0f})")
    finally:
        await floor_resource.aclose()
        await app.stop()
    return "\n".join(lines)


def _dump(label: str) -> None:
    subprocess.run(["callgrind_control", "-d", label, str(os.getpid())], capture_output=True,
                   check=False)


def callgrind_report(pid: int, calls: int, directory: str = ".") -> str:
    """Instructions per call of each ``run-<layer>`` dump of process ``pid``."""
    lines = []
    for path in sorted(glob.glob(os.path.join(directory, f"callgrind.out.{pid}.*")),
                       key=lambda p: int(p.rsplit(".", 1)[1])):
        trigger, total = "", 0
        for line in Path(path).read_text(errors="replace").splitlines():
            if line.startswith("desc: Trigger:"):
                trigger = line.split()[-1]
            elif line.startswith(("summary:", "totals:")) and not total:
                total = int(line.split()[1])
        if trigger.startswith("run-"):
            lines.append(f"{trigger[4:]:>10}: {total / calls / 1000:7.1f} k instructions per call")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.layers", description=__doc__.split("\n")[0])
    parser.add_argument("--callgrind", action="store_true",
                        help="running under valgrind --tool=callgrind: dump per layer, count instructions")
    parser.add_argument("-n", "--calls", type=int, default=2000, help="calls per layer and round")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-layers-") as scratch:
        snapshot = data.write_snapshot(Path(scratch) / "scenario.json")
        emulator = procs.start("emulator", procs.emulator_argv(snapshot, data.API_KEY),
                               procs.python_env(), procs.EMULATOR_READY, Path(scratch))
        redis = run.LocalRedis(Path(scratch))
        try:
            upstream = emulator.ready["line"].rsplit(" ", 1)[1]
            from bootstrap import event_loop

            report = event_loop.run(_measure(upstream, redis, args.calls, args.callgrind),
                                    os.environ.get("EVENT_LOOP", "auto"))
        finally:
            emulator.stop()
            redis.stop()
    if args.callgrind:
        report = callgrind_report(os.getpid(), args.calls)
    print(f"Redis hit, layer by layer ({CONCURRENCY} concurrent tasks, {args.calls} calls per layer):")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
