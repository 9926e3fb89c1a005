"""One closed-loop load process: ``python -m bench.pyclient '<json spec>'``.

Spec: ``port``, ``path`` (``/package.Service/Method``), ``request`` (hex of the
serialized request), ``tasks`` (callers sharing one grpc.aio channel), ``measure_at`` and
``stop_at`` (wall-clock seconds), ``max_requests``, ``out`` (result file). Callers send
from start-up on (warm-up); calls that *start* inside [measure_at, stop_at) are
measured. Bounded by ``stop_at`` and ``max_requests``. Writes
``{"latencies_us": [...], "failed": N, "late_start": bool}``.
"""
from __future__ import annotations

import asyncio
import json
import sys
import time

import grpc


async def run(spec: dict) -> dict:
    request = bytes.fromhex(spec["request"])
    measure_at, stop_at = spec["measure_at"], spec["stop_at"]
    budget = spec["max_requests"]
    latencies: list[float] = []
    failed = 0
    late = time.time() > measure_at
    async with grpc.aio.insecure_channel(f"127.0.0.1:{spec['port']}") as channel:
        call = channel.unary_unary(spec["path"])  # bytes in, bytes out
        await channel.channel_ready()

        async def caller() -> None:
            nonlocal failed, budget
            while budget > 0:
                wall = time.time()
                if wall >= stop_at:
                    return
                started = time.perf_counter()
                try:
                    await call(request, timeout=10)
                    ok = True
                except grpc.aio.AioRpcError:
                    ok = False
                if wall >= measure_at:
                    budget -= 1
                    if ok:
                        latencies.append((time.perf_counter() - started) * 1e6)
                    else:
                        failed += 1

        await asyncio.gather(*(caller() for _ in range(spec["tasks"])))
    return {"latencies_us": latencies, "failed": failed, "late_start": late}


def main() -> int:
    spec = json.loads(sys.argv[1])
    result = asyncio.run(run(spec))
    with open(spec["out"], "w") as out:
        json.dump(result, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
