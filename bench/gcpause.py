"""Event-loop pauses of Python's cyclic GC with a large cache, with and without the
sidecar's freeze policy (``bootstrap/gc_policy.py``, ``GC_FREEZE_INTERVAL_MS``).

``python -m bench.gcpause [--customers N] [--updates M]`` fills a real
``MemoryEntitlementCache`` with N customers × 20 entitlements (the cache growing, as
while a sidecar warms up), then applies M real-time style updates (a new set for a
random customer, as the feed does), and records every collection's duration through
``gc.callbacks``, per phase. Each variant runs in its own process (freezing is
process-wide): ``off`` (the interpreter's defaults) and ``freeze`` (the policy:
``FreezePolicy.tick()`` every 1,000 writes, standing in for the 10 s timer). Prints the
count and the longest pause per generation and phase.

Automatic collections follow *net* allocations, so replacing sets (the steady state)
triggers almost none; a growing cache triggers full collections each time the old
generation grew by a quarter, and those traverse the whole cache.
"""
from __future__ import annotations

import argparse
import gc
import json
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _set(customer: int, version: int):
    from domain.model.identifiers import CustomerKey
    from tests.fakes.builders import boolean, entitlement_set, metered, numeric

    return entitlement_set(
        *[metered(f"m{i}", 100, (i + version) % 90, start=1, end=2, updated_at=version)
          for i in range(10)],
        *[boolean(f"b{i}") for i in range(5)], *[numeric(f"n{i}", 5) for i in range(5)],
        key=CustomerKey(f"c{customer}"), timestamp=version)


def _variant(name: str, customers: int, updates: int) -> dict:
    import asyncio

    from adapters.outbound.memory_cache import MemoryEntitlementCache
    from bootstrap.gc_policy import FreezePolicy

    pauses: dict[str, dict[int, list[float]]] = {
        phase: {0: [], 1: [], 2: []} for phase in ("fill", "updates")}
    current = ["fill"]
    started: list[float] = []

    def watch(phase: str, info: dict) -> None:
        if phase == "start":
            started.append(time.perf_counter())
        elif started:
            pauses[current[0]][info["generation"]].append(time.perf_counter() - started.pop())

    async def run() -> None:
        cache = MemoryEntitlementCache(1 << 40)
        policy = FreezePolicy() if name == "freeze" else None
        gc.callbacks.append(watch)
        for customer in range(customers):
            await cache.apply_update(_set(customer, 1))
            if policy is not None and customer % 1000 == 999:
                policy.tick()
        current[0] = "updates"
        rng = random.Random(7)
        for update in range(updates):
            await cache.apply_update(_set(rng.randrange(customers), 2 + update))
            if policy is not None and update % 1000 == 999:
                policy.tick()
        gc.callbacks.remove(watch)

    asyncio.run(run())
    return {phase: {gen: {"count": len(p), "max_ms": round(max(p, default=0) * 1000, 1)}
                    for gen, p in gens.items()} for phase, gens in pauses.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gcpause")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--updates", type=int, default=50_000)
    parser.add_argument("--variant", choices=["off", "freeze"])
    args = parser.parse_args(argv)
    if args.variant:
        print(json.dumps(_variant(args.variant, args.customers, args.updates)))
        return 0
    print(f"{args.customers:,} customers × 20 entitlements, then {args.updates:,} updates")
    print("| variant | phase | gen 0 count / max ms | gen 1 count / max ms | gen 2 count / max ms |")
    print("|---|---|---:|---:|---:|")
    for variant in ("off", "freeze"):
        out = subprocess.run(
            [sys.executable, "-m", "bench.gcpause", "--variant", variant,
             "--customers", str(args.customers), "--updates", str(args.updates)],
            cwd=ROOT, capture_output=True, text=True, check=True,
            env={"PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}).stdout
        result = json.loads(out.strip().splitlines()[-1])
        for phase, gens in result.items():
            cells = " | ".join(f"{gens[g]['count']} / {gens[g]['max_ms']}" for g in ("0", "1", "2"))
            print(f"| {variant} | {phase} | {cells} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
