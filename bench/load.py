"""Load generators: h2load (preferred) and closed-loop Python gRPC client processes.

Both run outside the measured server's process, send one pre-serialized request over
and over (closed loop: a new call starts when one finishes), warm up first, and return
per-call latencies of the measured window only. The server's CPU time is read from
/proc around the measured window (``procs.cpu_seconds``), so "CPU µs per call" is the
server's own cost, whatever the load generator spends.

Every loop is bounded in time (``measure_s``, enforced by the generator and by a
subprocess timeout) and in count (``MAX_REQUESTS`` for the Python clients; h2load is
bounded by time, and its log is capped by the same figure).
"""
from __future__ import annotations

import json
import math
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench import procs

#: Upper bound of calls in one measured window, per generator.
MAX_REQUESTS = 2_000_000
SERVICE_PATH = "/stigg.sidecar.v1.SidecarService/"


@dataclass(frozen=True)
class Target:
    port: int
    method: str  # e.g. "GetMeteredEntitlement"
    request: bytes  # serialized request message
    #: Serialized size of the expected answer (gross check that calls did not fail).
    response_size: int = 0

    @property
    def path(self) -> str:
        return SERVICE_PATH + self.method


@dataclass
class Measurement:
    generator: str
    concurrency: int
    connections: int
    requests: int
    failed: int
    seconds: float
    rps: float
    p50_us: float
    p99_us: float
    p999_us: float
    mean_us: float
    max_us: float
    server_cpu_s: float
    cpu_us_per_call: float
    #: Calls per second one core of server CPU would answer (1e6 / cpu_us_per_call).
    per_core_rps: float
    notes: list[str] = field(default_factory=list)
    #: Sorted latency samples (µs); kept for merging, left out of ``as_dict``.
    samples: list[float] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "samples"}


def merge(parts: list[Measurement]) -> Measurement:
    """One measurement from several windows of the same server and concurrency."""
    if len(parts) == 1:
        return parts[0]
    samples = [x for part in parts for x in part.samples]
    notes = sorted({note for part in parts for note in part.notes})
    notes.append(f"{len(parts)} windows merged")
    return summarize(parts[0].generator, parts[0].concurrency, parts[0].connections, samples,
                     sum(p.failed for p in parts), sum(p.seconds for p in parts),
                     sum(p.server_cpu_s for p in parts), notes)


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


def summarize(generator: str, concurrency: int, connections: int, latencies_us: list[float],
              failed: int, seconds: float, cpu_s: float, notes: list[str]) -> Measurement:
    latencies_us.sort()
    n = len(latencies_us)
    cpu_us = cpu_s * 1e6 / n if n else 0.0
    return Measurement(
        generator=generator, concurrency=concurrency, connections=connections,
        requests=n, failed=failed, seconds=round(seconds, 3),
        rps=round(n / seconds, 1) if seconds > 0 else 0.0,
        p50_us=percentile(latencies_us, 0.50), p99_us=percentile(latencies_us, 0.99),
        p999_us=percentile(latencies_us, 0.999),
        mean_us=round(sum(latencies_us) / n, 1) if n else 0.0,
        max_us=latencies_us[-1] if n else 0.0,
        server_cpu_s=round(cpu_s, 3), cpu_us_per_call=round(cpu_us, 1),
        per_core_rps=round(1e6 / cpu_us, 1) if cpu_us else 0.0, notes=notes,
        samples=latencies_us,
    )


def grpc_frame(message: bytes) -> bytes:
    """gRPC length-prefixed message: flag 0 (uncompressed), 4-byte big-endian length."""
    return b"\x00" + struct.pack(">I", len(message)) + message


def split_concurrency(concurrency: int, max_connections: int = 8) -> tuple[int, int]:
    """(connections, streams per connection): up to 8 connections, the rest multiplexed
    (an application's few channels, each with many calls in flight)."""
    connections = min(concurrency, max_connections)
    return connections, max(1, concurrency // connections)


# ---------------------------------------------------------------- h2load


def h2load_path() -> str | None:
    return shutil.which("h2load")


class H2Load:
    """Debian's ``nghttp2-client`` h2load, one thread, framed gRPC POSTs.

    Warm-up is a separate h2load invocation (so the server CPU sampled around the
    measured invocation covers measured calls only); the measured one logs every
    request (``--log-file``: start, HTTP status, µs) from which percentiles come, since
    h2load itself prints only min/max/mean/sd. h2load sees HTTP status, not
    ``grpc-status`` (a trailer): failures are caught by the response-bytes check here
    and by the sidecar's own per-code RPC counters in the runner.
    """

    name = "h2load"

    def __init__(self, binary: str | None = None) -> None:
        self.binary = binary or h2load_path()
        if self.binary is None:
            raise RuntimeError("h2load not found (apt-get install nghttp2-client)")

    def close(self) -> None:
        pass

    def _argv(self, target: Target, body: Path, connections: int, streams: int,
              seconds: float, log: Path | None) -> list[str]:
        argv = [self.binary, "-D", f"{max(1, round(seconds * 1000))}ms", "-c", str(connections), "-m", str(streams),
                "-t", "1", "-H", "content-type: application/grpc", "-H", "te: trailers",
                "-d", str(body)]
        if log is not None:
            argv += ["--log-file", str(log)]
        return argv + [f"http://127.0.0.1:{target.port}{target.path}"]

    def run(self, target: Target, concurrency: int, warmup_s: float, measure_s: float,
            server_pid: int) -> Measurement:
        connections, streams = split_concurrency(concurrency)
        with tempfile.TemporaryDirectory(prefix="bench-h2load-") as scratch:
            body = Path(scratch) / "body.bin"
            body.write_bytes(grpc_frame(target.request))
            log = Path(scratch) / "requests.log"
            if warmup_s > 0:
                self._invoke(self._argv(target, body, connections, streams, warmup_s, None),
                             warmup_s)
            before = procs.cpu_seconds(server_pid)
            started = time.monotonic()
            out = self._invoke(self._argv(target, body, connections, streams, measure_s, log),
                               measure_s)
            elapsed = time.monotonic() - started
            cpu = procs.cpu_seconds(server_pid) - before
            latencies, bad_status = _read_log(log)
        stats = _h2load_stats(out)
        notes = []
        failed = bad_status + stats.get("failed", 0) + stats.get("errored", 0)
        done = max(1, stats.get("done", len(latencies)))
        data_per_call = stats.get("data_bytes", 0) / done
        if target.response_size and data_per_call < target.response_size + 5:
            notes.append(f"response bytes per call {data_per_call:.0f} < expected "
                         f"{target.response_size + 5}: calls are failing")
            failed = max(failed, done)
        seconds = stats.get("seconds") or measure_s
        notes.append(f"h2load -c {connections} -m {streams}; CPU window {elapsed:.2f} s")
        return summarize(self.name, concurrency, connections, latencies, failed,
                         seconds, cpu, notes)

    def run_get(self, url: str, headers: dict[str, str], concurrency: int, warmup_s: float,
                measure_s: float, server_pid: int) -> Measurement:
        """Plain HTTP/1.1 GETs of ``url`` (``--h1``, one request in flight per
        connection, ``concurrency`` connections): the upstream's own latency, the baseline
        of a cold miss. Non-200 answers count as failed."""
        argv = [self.binary, "--h1", "-c", str(concurrency), "-m", "1", "-t", "1"]
        for name, value in headers.items():
            argv += ["-H", f"{name}: {value}"]
        with tempfile.TemporaryDirectory(prefix="bench-h2load-") as scratch:
            log = Path(scratch) / "requests.log"
            timed = ["-D", f"{max(1, round(measure_s * 1000))}ms", "--log-file", str(log), url]
            if warmup_s > 0:
                self._invoke([*argv, "-D", f"{max(1, round(warmup_s * 1000))}ms", url], warmup_s)
            before = procs.cpu_seconds(server_pid)
            out = self._invoke([*argv, *timed], measure_s)
            cpu = procs.cpu_seconds(server_pid) - before
            latencies, bad = _read_log(log)
        stats = _h2load_stats(out)
        return summarize(f"{self.name} --h1", concurrency, concurrency, latencies,
                         bad + stats.get("failed", 0) + stats.get("errored", 0),
                         stats.get("seconds") or measure_s, cpu, [f"h2load --h1 -c {concurrency}"])

    @staticmethod
    def _invoke(argv: list[str], seconds: float) -> str:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)
        if done.returncode != 0:
            raise RuntimeError(f"h2load failed ({done.returncode}): {done.stderr[-1000:]}"
                               f"{done.stdout[-1000:]}")
        return done.stdout


def _read_log(path: Path) -> tuple[list[float], int]:
    """h2load's ``--log-file`` (start, HTTP status, µs per request): the latencies (µs)
    of the 200 answers, at most ``MAX_REQUESTS``, and the count of the others."""
    latencies, bad = [], 0
    with open(path) as lines:
        for index, line in enumerate(lines):
            if index >= MAX_REQUESTS:
                break
            _, status, micros = line.split("\t")
            if status == "200":
                latencies.append(float(micros))
            else:
                bad += 1
    return latencies, bad


def _h2load_stats(out: str) -> dict[str, float]:
    stats: dict[str, float] = {}
    if m := re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                      r"(\d+) failed, (\d+) errored", out):
        stats.update(total=int(m[1]), done=int(m[3]), succeeded=int(m[4]), failed=int(m[5]),
                     errored=int(m[6]))
    if m := re.search(r"traffic: .*?, ([\d.]+\w*) \((\d+)\) data", out):
        stats["data_bytes"] = int(m[2])
    if m := re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", out):
        rps = float(m[3])
        stats["rps"] = rps
        if rps > 0 and "done" in stats:
            stats["seconds"] = stats["done"] / rps
    return stats


# ---------------------------------------------------------------- Python clients


class PythonClients:
    """``processes`` OS processes (``python -m bench.pyclient``, started once and reused),
    each opening its own grpc.aio channel per measurement with ``concurrency /
    processes`` closed-loop callers; their latency samples are merged. Used when h2load
    is missing: on a 2-core machine the clients cost as much CPU as the server, so
    throughput is then bounded by the clients, not the server (CPU µs per call stays
    exact)."""

    name = "python-clients"
    #: Seconds between handing out a job and the start of its warm-up (channel set-up).
    START_S = 0.15

    def __init__(self, processes: int = 2) -> None:
        self.processes = processes
        self._pool: list[subprocess.Popen] = []

    def _workers(self, count: int) -> list[subprocess.Popen]:
        while len(self._pool) < count:
            worker = subprocess.Popen(
                [sys.executable, "-m", "bench.pyclient"], cwd=procs.ROOT,
                env=procs.python_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                text=True)
            if json.loads(worker.stdout.readline() or "{}").get("ready") is not True:
                raise RuntimeError("bench.pyclient did not start")
            self._pool.append(worker)
        return self._pool[:count]

    def close(self) -> None:
        for worker in self._pool:
            worker.stdin.close()
        for worker in self._pool:
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()
        self._pool.clear()

    def run(self, target: Target, concurrency: int, warmup_s: float, measure_s: float,
            server_pid: int) -> Measurement:
        count = max(1, min(self.processes, concurrency))
        per_worker = [concurrency // count + (1 if i < concurrency % count else 0)
                      for i in range(count)]
        workers = self._workers(count)
        measure_at = time.time() + self.START_S + warmup_s
        stop_at = measure_at + measure_s
        for worker, tasks in zip(workers, per_worker):
            job = {"port": target.port, "path": target.path, "request": target.request.hex(),
                   "tasks": tasks, "measure_at": measure_at, "stop_at": stop_at,
                   "max_requests": MAX_REQUESTS // count}
            worker.stdin.write(json.dumps(job) + "\n")
            worker.stdin.flush()
        _sleep_until(measure_at)
        before = procs.cpu_seconds(server_pid)
        _sleep_until(stop_at)
        cpu = procs.cpu_seconds(server_pid) - before
        latencies: list[float] = []
        failed, notes = 0, []
        for worker in workers:
            line = worker.stdout.readline()  # bounded: the job ends at stop_at (+ timeouts)
            if not line:
                raise RuntimeError(f"bench.pyclient exited ({worker.poll()})")
            result = json.loads(line)
            latencies.extend(result["latencies_us"])
            failed += result["failed"]
            if result.get("late_start"):
                notes.append("a client was not connected when the measured window began")
        notes.append(f"{count} client processes x {per_worker} callers")
        return summarize(self.name, concurrency, count, latencies, failed, measure_s, cpu,
                         notes)


def _sleep_until(moment: float) -> None:
    delay = moment - time.time()
    if delay > 0:
        time.sleep(delay)


def choose(name: str = "auto") -> H2Load | PythonClients:
    """``auto``: h2load when installed, else Python clients."""
    if name == "h2load" or (name == "auto" and h2load_path()):
        return H2Load()
    if name in ("auto", "python"):
        return PythonClients()
    raise ValueError(f"unknown load generator {name!r} (auto, h2load, python)")

