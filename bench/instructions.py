"""Instructions per call of the whole server process, floor and sidecar, under callgrind.

``python -m bench.instructions [--scenario NAME ...] [--concurrency C] [-n N] [--cache-sim]``

For each scenario, the sidecar and then its floor (``bench.floor``, replaying the
sidecar's own answer) are started under ``valgrind --tool=callgrind`` with
instrumentation off; once ready and warm, instrumentation is switched on, counters are
zeroed, h2load sends exactly N calls (C in flight, split over connections as in
``python -m bench``), and the process's instructions are dumped (``callgrind_control``).
Prints instructions per call of each server and the ratio sidecar ÷ floor; with
``--cache-sim``, also simulated L1 instruction/data read misses per call.

Unlike CPU seconds on a shared VM, instruction counts do not depend on what the
neighbours do: the same code and inputs give the same figure within ~1 %, so a change
of a few percent in the hot path is visible here when the timed ratios of
``python -m bench`` cannot resolve it (docs/performance.md). Instructions are not
time: cache misses, system calls and scheduling are not in them. Every thread of the
process is counted (grpc's C-core threads too). h2load sees HTTP status only: a
server answering gRPC errors would still be counted, so the sidecar's answer is
checked once before counting (``run.check_answer``). About 1–2 minutes per scenario (the
sidecar starts ~50× slower under valgrind). Not part of ``python -m bench``.
"""
from __future__ import annotations

import argparse
import base64
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import data, load, procs, run

DEFAULT_SCENARIOS = ("hit_memory_metered", "hit_memory_boolean", "state_v2_50")
#: Start-up under valgrind: the sidecar imports its whole stack ~50× slower (s).
START_TIMEOUT_S = 600.0


def _callgrind(directory: Path, cache_sim: bool) -> list[str]:
    return ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--dump-instr=no",
            f"--callgrind-out-file={directory}/callgrind.%p",
            *(["--cache-sim=yes"] if cache_sim else [])]


def _control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], capture_output=True, check=False)


def _events(directory: Path, pid: int) -> dict[str, int]:
    """Event name → total of the ``run`` dump of ``pid``."""
    for path in directory.glob(f"callgrind.{pid}.*"):
        names: list[str] = []
        text = path.read_text(errors="replace")
        if "Trigger: dump run" not in text and "Client Request: run" not in text:
            continue
        for line in text.splitlines():
            if line.startswith("events:"):
                names = line.split()[1:]
            elif line.startswith("summary:"):
                return dict(zip(names, map(int, line.split()[1:])))
    raise RuntimeError(f"no callgrind dump of process {pid} in {directory}")


def _h2load(port: int, scenario: run.Scenario, body: Path, concurrency: int, calls: int) -> str:
    connections, streams = load.split_concurrency(concurrency)
    argv = ["h2load", "-n", str(calls), "-c", str(connections), "-m", str(streams), "-t", "1",
            "-H", "content-type: application/grpc", "-H", "te: trailers", "-d", str(body),
            f"http://127.0.0.1:{port}{load.SERVICE_PATH}{scenario.method}"]
    return subprocess.run(argv, capture_output=True, text=True, check=False).stdout


def _count(child: procs.Child, scenario: run.Scenario, body: Path, concurrency: int,
           calls: int, directory: Path) -> dict[str, float]:
    """Events per call of ``child`` (started under callgrind) for ``calls`` calls."""
    port = child.ready["grpc_port"]
    _h2load(port, scenario, body, concurrency, 300)  # warm, uninstrumented
    _control(child.pid, "-i", "on")
    _h2load(port, scenario, body, concurrency, 200)  # warm, instrumented
    _control(child.pid, "-z")
    out = _h2load(port, scenario, body, concurrency, calls)
    _control(child.pid, "-d", "run")
    _control(child.pid, "-i", "off")
    if f"{calls} succeeded" not in out:
        raise RuntimeError(f"h2load did not get {calls} answers:\n{out[-1500:]}")
    return {name: total / calls for name, total in _events(directory, child.pid).items()}


def _measure(scenario: run.Scenario, upstream: str, concurrency: int, calls: int,
             cache_sim: bool, directory: Path) -> dict[str, dict[str, float]]:
    live = scenario.sidecar == "live"
    env = run.sidecar_env(upstream, live)
    sidecar = procs.start("sidecar", list(run.DEFAULT_SIDECAR_CMD), env, run.SIDECAR_READY,
                          directory)
    try:  # the answer the floor replays, from a sidecar at full speed
        if live:
            run.wait_live(sidecar)
        answer = run.call(sidecar.ready["grpc_port"], scenario.method, scenario.request)
        problem = run.check_answer(scenario.method, answer)
        if problem:
            raise RuntimeError(f"{scenario.name}: the sidecar answered badly: {problem}")
    finally:
        sidecar.stop()
    responses = directory / f"{scenario.name}-responses.json"
    responses.write_text(json.dumps({scenario.method: base64.b64encode(answer).decode()}))
    body = directory / f"{scenario.name}-body.bin"
    body.write_bytes(load.grpc_frame(scenario.request))
    valgrind = _callgrind(directory, cache_sim)
    servers = {
        "sidecar": (valgrind + list(run.DEFAULT_SIDECAR_CMD), env, run.SIDECAR_READY),
        "floor": (valgrind + [sys.executable, "-m", "bench.floor", "--responses",
                              str(responses)], procs.python_env(), "Floor is ready"),
    }
    counted = {}
    for name, (argv, child_env, marker) in servers.items():
        child = procs.launch(f"{scenario.name}-{name}", argv, child_env, directory)
        try:
            procs.wait_ready(child, marker, START_TIMEOUT_S)
            if name == "sidecar" and live:
                run.wait_live(child, START_TIMEOUT_S)
            counted[name] = _count(child, scenario, body, concurrency, calls, directory)
        finally:
            child.stop(60)
    return counted


def _report(name: str, concurrency: int, counted: dict[str, dict[str, float]]) -> str:
    floor, sidecar = counted["floor"], counted["sidecar"]
    line = (f"{name} c={concurrency}: floor {floor['Ir'] / 1000:.1f} k, sidecar "
            f"{sidecar['Ir'] / 1000:.1f} k instructions per call: "
            f"{sidecar['Ir'] / floor['Ir']:.3f}×")
    if "D1mr" in floor:
        line += "".join(f"; {event} {floor[event]:.0f} / {sidecar[event]:.0f} "
                        f"({sidecar[event] / floor[event]:.2f}×)"
                        for event in ("I1mr", "D1mr") if floor.get(event))
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions",
                                     description=__doc__.split("\n")[0])
    names = [s.name for s in run.scenarios()]
    parser.add_argument("--scenario", action="append", choices=names,
                        help=f"repeatable; default: {', '.join(DEFAULT_SCENARIOS)}")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("-n", "--calls", type=int, default=2000, help="calls counted per server")
    parser.add_argument("--cache-sim", action="store_true",
                        help="also simulate the caches (L1 misses per call; ~2× slower)")
    args = parser.parse_args(argv)
    missing = [tool for tool in ("valgrind", "callgrind_control", "h2load") if not shutil.which(tool)]
    if missing:
        print(f"needs {', '.join(missing)} (Debian: valgrind, nghttp2-client)", file=sys.stderr)
        return 2
    chosen = [s for s in run.scenarios() if s.name in (args.scenario or DEFAULT_SCENARIOS)]
    with tempfile.TemporaryDirectory(prefix="bench-instructions-") as scratch:
        directory = Path(scratch)
        snapshot = data.write_snapshot(directory / "scenario.json")
        emulator = procs.start("emulator", procs.emulator_argv(snapshot, data.API_KEY),
                               procs.python_env(), procs.EMULATOR_READY, directory)
        try:
            upstream = emulator.ready["line"].rsplit(" ", 1)[1]
            for scenario in chosen:
                if scenario.sidecar not in ("live", "cold"):
                    print(f"{scenario.name}: skipped (needs Redis; see bench.layers)")
                    continue
                counted = _measure(scenario, upstream, args.concurrency, args.calls,
                                   args.cache_sim, directory)
                print(_report(scenario.name, args.concurrency, counted), flush=True)
        finally:
            emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
