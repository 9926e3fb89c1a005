"""Where a sidecar call's CPU goes: ``python -m bench.profile [--scenario NAME] [--top N]``.

Runs the emulator as a process and the sidecar *in this process* (configured through the
environment, as in production), drives one scenario with h2load (or the Python clients)
from another process, and prints cProfile's top functions of the event-loop thread for
the measured window, per call. Not part of ``python -m bench``; a tool for finding
hot-path costs (bench/README.md, "Profiling").
"""
from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

from bench import data, load, procs, run


async def _profile(scenario: run.Scenario, concurrency: int, seconds: float, top: int,
                   sort: str, upstream: str, redis_port: int | None) -> str:

    extra = {} if redis_port is None else dict(
        REDIS_ENVIRONMENT_PREFIX="bench", REDIS_HOST="127.0.0.1", REDIS_PORT=str(redis_port))
    env = run.sidecar_env(upstream, scenario.sidecar == "live", LOG_LEVEL="warn", **extra)
    app = run.in_process_sidecar(env)
    await app.start()
    try:
        deadline = time.monotonic() + 20
        while scenario.sidecar == "live" and not (app._realtime and app._realtime.live):
            if time.monotonic() > deadline:
                raise RuntimeError("real-time feed not live")
            await asyncio.sleep(0.05)
        target = load.Target(app.grpc_port, scenario.method, scenario.request)
        await asyncio.to_thread(run.call, app.grpc_port, scenario.method, scenario.request)
        generator = load.choose("auto")
        # Warm-up, then the profiled window (the generator runs in a worker thread; the
        # event loop — where the sidecar's Python runs — is what cProfile sees).
        await asyncio.to_thread(generator.run, target, concurrency, 0, 1.0, os.getpid())
        profiler = cProfile.Profile()
        profiler.enable()
        result = await asyncio.to_thread(generator.run, target, concurrency, 0, seconds,
                                         os.getpid())
        profiler.disable()
        generator.close()
    finally:
        await app.stop()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats(sort).print_stats(top)
    calls = max(1, result.requests)
    header = (f"{scenario.name} c={concurrency}: {result.requests} calls in {seconds} s "
              f"({result.rps:.0f}/s) under cProfile (which slows Python down). Divide times "
              f"by {calls} for per-call figures.\n")
    return header + out.getvalue()


def main(argv: list[str] | None = None) -> int:
    names = [s.name for s in run.scenarios() if s.sidecar in ("live", "cold", "redis")]
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("--scenario", default="hit_memory_metered", choices=names)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="tottime", choices=["tottime", "cumulative"])
    args = parser.parse_args(argv)
    scenario = next(s for s in run.scenarios() if s.name == args.scenario)
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as scratch:
        snapshot = data.write_snapshot(Path(scratch) / "scenario.json")
        emulator = procs.start("emulator", procs.emulator_argv(snapshot, data.API_KEY),
                               procs.python_env(), procs.EMULATOR_READY, Path(scratch))
        redis = run.LocalRedis(Path(scratch)) if scenario.sidecar == "redis" else None
        try:
            upstream = emulator.ready["line"].rsplit(" ", 1)[1]
            print(asyncio.run(_profile(scenario, args.concurrency, args.seconds, args.top,
                                       args.sort, upstream, redis and redis.port)))
        finally:
            emulator.stop()
            if redis is not None:
                redis.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
