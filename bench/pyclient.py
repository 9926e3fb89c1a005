"""A closed-loop load worker process: ``python -m bench.pyclient``.

Reads one JSON job per line on stdin, runs it, writes one JSON result line on stdout;
exits at end of input (so a pool of workers is started once per run, not per job).

Job: ``port``, ``path`` (``/package.Service/Method``), ``request`` (hex of the serialized
request), ``tasks`` (callers sharing one grpc.aio channel), ``measure_at`` and
``stop_at`` (wall-clock seconds), ``max_requests``. Callers send from the start of the
job (warm-up); calls that *start* inside [measure_at, stop_at) are measured. Bounded by
``stop_at`` and ``max_requests``. Result: ``{"latencies_us": [...], "failed": N,
"late_start": bool}``.
"""
from __future__ import annotations

import asyncio
import json
import sys
import time

import grpc


async def run(job: dict) -> dict:
    request = bytes.fromhex(job["request"])
    measure_at, stop_at = job["measure_at"], job["stop_at"]
    budget = job["max_requests"]
    latencies: list[float] = []
    failed = 0
    async with grpc.aio.insecure_channel(f"127.0.0.1:{job['port']}") as channel:
        call = channel.unary_unary(job["path"])  # bytes in, bytes out
        await asyncio.wait_for(channel.channel_ready(), 10)
        late = time.time() > measure_at

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

        await asyncio.gather(*(caller() for _ in range(job["tasks"])))
    return {"latencies_us": latencies, "failed": failed, "late_start": late}


def main() -> int:
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        result = asyncio.run(run(json.loads(line)))
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
