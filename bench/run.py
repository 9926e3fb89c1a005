"""The benchmark run: the sidecar against its gRPC floor, same run, same load generator.

``python -m bench`` (or ``python bench/run.py``); ``--smoke`` for a seconds-long run
with the same code paths; ``--help`` for the knobs. See bench/README.md for the method.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

if __package__ in (None, ""):  # `python bench/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

import grpc  # noqa: E402
import httpx  # noqa: E402

from bench import data, load, memory, procs, report  # noqa: E402
from bootstrap import event_loop  # noqa: E402
from sidecarpb.v1 import sidecar_pb2 as pb  # noqa: E402

RESULTS = procs.ROOT / "bench" / "results"
DEFAULT_SIDECAR_CMD = [sys.executable, "-m", "bootstrap"]


@dataclass
class Config:
    concurrencies: list[int] = field(default_factory=lambda: [1, 8, 64])
    warmup_s: float = 1.0
    measure_s: float = 6.0
    #: The measured time is split into this many alternating floor/sidecar windows
    #: (F S F S …), so a drift in the shared machine's speed hits both alike. With 2
    #: windows of 1.5 s, single cells on this VM swung by up to ±0.2× between runs;
    #: 6 windows of 1 s average the drift over more alternations.
    rounds: int = 6
    #: Seconds every server is left idle after start-up, before the first cell. On this
    #: VM the first cell measured right after start-up ran the sidecar 5–15 % slower than
    #: the same cell later (metered c=8 three times in a row: 0.87×, 0.93×, 1.07×; after
    #: 15 s idle: 0.97×, 0.96×) although no process uses CPU while idle — a start-up
    #: transient of the machine (bench/README.md, "Settling"), not a steady state.
    settle_s: float = 15.0
    generator: str = "auto"
    #: ``EVENT_LOOP`` for both servers (the floor runs on the sidecar's loop).
    event_loop: str = "auto"
    sidecar_cmd: list[str] = field(default_factory=lambda: list(DEFAULT_SIDECAR_CMD))
    scenarios: list[str] | None = None  # None: all
    flight_calls: int = 1000
    flight_delay_ms: int = 2000
    memory: memory.MemoryConfig = field(default_factory=memory.MemoryConfig)
    skip_memory: bool = False
    results_dir: Path = RESULTS
    smoke: bool = False


def smoke_config(results_dir: Path = RESULTS) -> Config:
    """Every code path, seconds long, no thresholds (tests/bench/test_bench_smoke.py)."""
    return Config(concurrencies=[4], warmup_s=0.05, measure_s=0.2, rounds=1, settle_s=0.0,
                  flight_calls=50,
                  flight_delay_ms=300, memory=memory.MemoryConfig.smoke(),
                  results_dir=results_dir, smoke=True)


# ---------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    method: str
    request: bytes
    sidecar: str  # key into the run's sidecars
    floor: str  # key into the run's floors
    #: Count upstream (emulator) requests during the sidecar's measured window.
    count_upstream: bool = False


def scenarios() -> list[Scenario]:
    metered = pb.GetMeteredEntitlementRequest(
        customer_id=data.HIT_CUSTOMER, feature_id=data.METERED_FEATURE)
    metered.options.requested_usage = 1
    boolean = pb.GetBooleanEntitlementRequest(
        customer_id=data.HIT_CUSTOMER, feature_id=data.BOOLEAN_FEATURE)
    cold = pb.GetMeteredEntitlementRequest(
        customer_id=data.COLD_CUSTOMER, feature_id=data.METERED_FEATURE)
    cold.options.requested_usage = 1
    usage = pb.ReportUsageRequest(
        customer_id=data.USAGE_CUSTOMER, feature_id=data.METERED_FEATURE, value=1)
    state = pb.GetEntitlementsStateV2Request(customer_id=data.STATE_CUSTOMER)
    return [
        Scenario("hit_memory_metered", "cache hit in memory (GetMeteredEntitlement)",
                 "GetMeteredEntitlement", metered.SerializeToString(), "live", "floor"),
        Scenario("hit_memory_boolean", "cache hit in memory (GetBooleanEntitlement)",
                 "GetBooleanEntitlement", boolean.SerializeToString(), "live", "floor"),
        Scenario("hit_redis_metered", "cache hit in Redis (GetMeteredEntitlement)",
                 "GetMeteredEntitlement", metered.SerializeToString(), "redis", "floor_redis"),
        Scenario("cold_miss_metered", "cold miss through the emulator (WS off: every read "
                 "refetches)", "GetMeteredEntitlement", cold.SerializeToString(), "cold",
                 "floor", count_upstream=True),
        Scenario("report_usage", "ReportUsage pass-through to the emulator", "ReportUsage",
                 usage.SerializeToString(), "live", "floor", count_upstream=True),
        Scenario("state_v2_50", "GetEntitlementsStateV2, 50 entitlements (cache hit)",
                 "GetEntitlementsStateV2", state.SerializeToString(), "live", "floor"),
    ]


# ---------------------------------------------------------------- helpers


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def sidecar_env(upstream: str, ws: bool, **extra: str) -> dict[str, str]:
    env = dict(
        SERVER_API_KEY=data.API_KEY, API_URL=upstream, EDGE_API_URL=upstream,
        WS_URL=upstream.replace("http://", "ws://"), WS_ENABLED="true" if ws else "false",
        PORT="0", HTTP_PORT="0", BIND_ADDRESS="127.0.0.1", LOG_LEVEL="info",
        CACHE_MAX_SIZE_BYTES=str(1 << 30), EVENTS_MODE="passthrough")
    if FIXED_PORTS:
        env.update(PORT=str(procs.free_port()), HTTP_PORT=str(procs.free_port()))
    return procs.python_env(**(env | extra))


SIDECAR_READY = '"Sidecar is ready"'
#: ``--fixed-ports``: each sidecar gets free, fixed PORT / HTTP_PORT instead of 0 (a
#: command that runs several worker processes on shared ports needs them).
FIXED_PORTS = False


def wait_live(child: procs.Child, timeout_s: float = 20.0) -> None:
    """Until /readyz says the real-time feed is live (the cache is then trusted)."""
    url = f"http://127.0.0.1:{child.ready['http_port']}/readyz"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).json().get("realtime", {}).get("live"):
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.1)
    raise procs.StartError(f"{child.name}: real-time feed not live in {timeout_s} s")


def call(port: int, method: str, request: bytes, timeout: float = 10.0) -> bytes:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        return channel.unary_unary(load.SERVICE_PATH + method)(request, timeout=timeout)


def check_answer(method: str, raw: bytes) -> str | None:
    """A problem with a captured answer (fallback, denied), or None."""
    if method == "GetEntitlementsStateV2":
        answer = pb.GetEntitlementsStateV2Response.FromString(raw)
        bad = [e for e in answer.entitlements if e.is_fallback or not e.has_access]
        return f"{len(bad)} fallback/denied entitlements" if bad else None
    if method == "ReportUsage":
        return None if pb.ReportUsageResponse.FromString(raw).measurement_id else "no measurement id"
    answer = getattr(pb, f"{method}Response").FromString(raw)
    if answer.is_fallback or not answer.has_access:
        return f"is_fallback={answer.is_fallback} has_access={answer.has_access}"
    return None


def sidecar_metrics(child: procs.Child) -> dict[str, float]:
    """Flat name{labels} → value of the sidecar's /metrics (counters we check)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"http://127.0.0.1:{child.ready['http_port']}/metrics", timeout=5).text
    flat: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in ("sidecar_rpc_duration_seconds_count", "sidecar_cache_hits_total",
                               "sidecar_cache_misses_total", "sidecar_fallback_responses_total",
                               "sidecar_cache_entries", "sidecar_cache_size_bytes"):
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                flat[f"{sample.name}{{{labels}}}"] = sample.value
    return flat


def metric_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    delta = {"calls_ok": 0.0, "calls_not_ok": 0.0, "calls_cancelled": 0.0, "cache_hits": 0.0,
             "cache_misses": 0.0, "fallbacks": 0.0}
    for name, value in after.items():
        change = value - before.get(name, 0.0)
        if name.startswith("sidecar_rpc_duration_seconds_count"):
            # h2load ends each window by resetting the streams still in flight: those
            # calls are CANCELLED by the client, not failures of the server.
            kind = ("calls_ok" if "code=OK" in name else
                    "calls_cancelled" if "code=CANCELLED" in name else "calls_not_ok")
            delta[kind] += change
        elif name.startswith("sidecar_cache_hits"):
            delta["cache_hits"] += change
        elif name.startswith("sidecar_cache_misses"):
            delta["cache_misses"] += change
        elif name.startswith("sidecar_fallback_responses"):
            delta["fallbacks"] += change
    return delta


def upstream_counts(upstream: str) -> dict[str, int]:
    counts = httpx.get(f"{upstream}/_emulator/state", timeout=30).json()["counts"]
    return {"edge": counts["edge"], "graphql": counts["graphql"], "total": counts["total"]}


def in_process_sidecar(env: dict[str, str]) -> Any:
    """A ``SidecarApp`` (not started) configured as a child with ``env`` would be, for
    the tools that run the sidecar in their own process (bench.profile, bench.layers,
    bench.hotpath). This process's environment takes ``env``; Redis, WebSocket and cache
    variables it had are dropped first so that ``env`` alone decides them."""
    from bootstrap.app import SidecarApp
    from bootstrap.settings import load_sidecar_settings

    for name in list(os.environ):
        if name.startswith(("REDIS_", "WS_", "CACHE_")):
            del os.environ[name]
    os.environ.update({k: v for k, v in env.items() if k != "PYTHONPATH"})
    settings, fallbacks, _ = load_sidecar_settings()
    return SidecarApp(settings, fallbacks)


def reset_upstream_counters(upstream: str) -> None:
    httpx.post(f"{upstream}/_emulator/reset", json={"counters_only": True}, timeout=10)


def machine_facts(generator: Any) -> dict[str, Any]:
    def run(argv: list[str]) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    h2 = load.h2load_path()
    return {
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": run(["nproc"]),
        "lscpu": "\n".join(run(["lscpu"]).splitlines()[:10]),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
        "load_generator": generator.name,
        "h2load": run([h2, "--version"]) if h2 else None,
    }


# ---------------------------------------------------------------- Redis (optional)


def redis_unavailable() -> str | None:
    """Why the Redis scenario cannot run here, or None."""
    if not shutil.which("redis-server"):
        return "redis-server is not installed"
    try:
        import redis  # noqa: F401
        from adapters.outbound import redis_cache, redis_keys  # noqa: F401
        from bootstrap.settings import SidecarSettings
    except ImportError as error:
        return f"Redis mode is not in this tree ({error})"
    if not hasattr(SidecarSettings, "redis_mode"):
        return "the sidecar has no Redis mode setting"
    return None


class LocalRedis:
    """A throwaway redis-server on a free loopback port (never 6379), no persistence."""

    def __init__(self, log_dir: Path) -> None:
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._dir = Path(tempfile.mkdtemp(prefix="bench-redis-"))
        self.child = procs.start("redis", [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(self._dir), "--protected-mode", "yes"],
            dict(os.environ), "Ready to accept connections", log_dir)

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port)

    def stop(self) -> None:
        self.child.stop()
        shutil.rmtree(self._dir, ignore_errors=True)


REDIS_PREFIX = "bench"
#: The request of the A/A cell (``Run._method_noise``): the target cells' own.
NOISE_SCENARIO = "hit_memory_metered"
FLOOR_REDIS_KEY = "bench-floor:value"


def redis_value_size(redis_client: Any, customer_id: str) -> int:
    """Bytes the sidecar stores for ``customer_id``'s set (its value key)."""
    from adapters.outbound.redis_keys import RedisKeys
    from domain.model.identifiers import CustomerKey

    keys = RedisKeys(REDIS_PREFIX).entry(CustomerKey.of(customer_id, None))
    return int(redis_client.strlen(keys.value))


# ---------------------------------------------------------------- the run


class Run:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        self.dir = config.results_dir / self.stamp
        self.dir.mkdir(parents=True, exist_ok=True)
        self.generator = load.choose(config.generator)
        self.sidecars: dict[str, procs.Child] = {}
        self.floors: dict[str, procs.Child] = {}
        self.skipped: dict[str, str] = {}
        self.results: dict[str, Any] = {"scenarios": [], "skipped": {}, "checks": {}}
        #: Upstream requests of the cell's own baseline windows (``_upstream_direct``).
        self._direct_requests = 0

    def execute(self) -> dict[str, Any]:
        cfg = self.config
        started = time.monotonic()
        self.results["machine"] = machine_facts(self.generator)
        self.results["config"] = {
            "concurrencies": cfg.concurrencies, "warmup_s": cfg.warmup_s,
            "measure_s": cfg.measure_s, "rounds": cfg.rounds, "settle_s": cfg.settle_s,
            "generator": self.generator.name,
            "event_loop": event_loop.resolve(cfg.event_loop),
            "sidecar_cmd": cfg.sidecar_cmd, "smoke": cfg.smoke,
        }
        log(f"results in {self.dir}; load generator: {self.generator.name}")
        with ExitStack() as stack:
            stack.callback(self.generator.close)
            self._start_servers(stack)
            if cfg.settle_s > 0:
                log(f"servers settle for {cfg.settle_s:g} s before the first cell")
                time.sleep(cfg.settle_s)
            for scenario in self._selected():
                self._measure_scenario(scenario)
            self._method_noise()
            self._single_flight()
            procs.stop_all([*self.sidecars.values(), *self.floors.values()])
            if not cfg.skip_memory:
                log("memory: filling a sidecar through its real-time feed")
                self.results["memory"] = memory.run(
                    cfg.memory, cfg.sidecar_cmd, cfg.sidecar_cmd == DEFAULT_SIDECAR_CMD,
                    self.upstream, self.dir, log)
        self.results["skipped"] = self.skipped
        self.results["elapsed_s"] = round(time.monotonic() - started, 1)
        self.results["targets"] = report.targets(self.results)
        report.write(self.results, self.dir, cfg.results_dir)
        return self.results

    def _selected(self) -> list[Scenario]:
        chosen = self.config.scenarios
        return [s for s in scenarios() if chosen is None or s.name in chosen]

    # --- servers ---
    def _start_servers(self, stack: ExitStack) -> None:
        """Emulator (and Redis), then every sidecar at once, then the floors at once."""
        cfg = self.config
        snapshot = data.write_snapshot(self.dir / "scenario.json")
        emulator = procs.launch("emulator", procs.emulator_argv(snapshot, data.API_KEY),
                                procs.python_env(), self.dir)
        stack.callback(emulator.stop)
        wanted = {s.sidecar for s in self._selected()}
        redis_reason = redis_unavailable() if "redis" in wanted else "not selected"
        if redis_reason is None:
            try:
                self._redis = LocalRedis(self.dir)
                stack.callback(self._redis.stop)
            except procs.StartError as error:
                redis_reason = f"redis-server did not start: {error}"
        procs.wait_ready(emulator, procs.EMULATOR_READY)
        self.upstream = emulator.ready["line"].rsplit(" ", 1)[1]
        self.emulator = emulator
        log(f"emulator on {self.upstream}")
        launching = {
            "live": procs.launch("sidecar-live", cfg.sidecar_cmd,
                                 sidecar_env(self.upstream, True), self.dir),
            "cold": procs.launch("sidecar-cold", cfg.sidecar_cmd,
                                 sidecar_env(self.upstream, False), self.dir),
        }
        if redis_reason is None:
            launching["redis"] = procs.launch("sidecar-redis", cfg.sidecar_cmd, sidecar_env(
                self.upstream, False, REDIS_ENVIRONMENT_PREFIX=REDIS_PREFIX,
                REDIS_HOST="127.0.0.1", REDIS_PORT=str(self._redis.port)), self.dir)
        for child in launching.values():
            stack.callback(child.stop)
        # The floors start now too; they wait for the answers captured below.
        responses_path = self.dir / "floor-responses.json"
        floor_argv = [sys.executable, "-m", "bench.floor", "--responses", str(responses_path),
                      "--wait", "120"]
        floors = {"floor": procs.launch("floor", floor_argv, procs.python_env(), self.dir)}
        if NOISE_SCENARIO in {s.name for s in self._selected()}:
            # A second, identical floor process: the A/A cell (``_method_noise``).
            floors["floor_twin"] = procs.launch("floor-twin", floor_argv, procs.python_env(),
                                                self.dir)
        if redis_reason is None:
            floors["floor_redis"] = procs.launch(
                "floor-redis", [*floor_argv, "--redis-port", str(self._redis.port),
                                "--redis-key", FLOOR_REDIS_KEY], procs.python_env(), self.dir)
        for child in floors.values():
            stack.callback(child.stop)
        for key, child in launching.items():
            try:
                procs.wait_ready(child, SIDECAR_READY)
            except procs.StartError as error:
                if key != "redis":
                    raise
                redis_reason = f"the Redis-mode sidecar did not start: {error}"
                continue
            self.sidecars[key] = child
        wait_live(self.sidecars["live"])
        log(f"sidecars ready: live (WS on) grpc {self.sidecars['live'].ready['grpc_port']}, "
            f"cold (WS off) grpc {self.sidecars['cold'].ready['grpc_port']}")
        redis_size = None
        if "redis" in wanted:
            redis_size, redis_reason = self._check_redis(redis_reason)
        # Warm every sidecar's path once and capture the answers the floor will replay.
        responses: dict[str, str] = {}
        for scenario in self._selected():
            child = self.sidecars.get(scenario.sidecar)
            if child is None:
                continue
            raw = call(child.ready["grpc_port"], scenario.method, scenario.request)
            problem = check_answer(scenario.method, raw)
            if problem:
                raise RuntimeError(f"{scenario.name}: the sidecar answered badly: {problem}")
            if scenario.sidecar in ("live", "cold", "redis"):
                responses.setdefault(scenario.method, base64.b64encode(raw).decode())
        if redis_size is not None:
            self._redis_client.set(FLOOR_REDIS_KEY, b"x" * redis_size)
            self.results["checks"]["redis_value_bytes"] = redis_size
        else:
            floors.pop("floor_redis", None)  # its Redis key stays empty: not measured
        scratch = responses_path.with_suffix(".tmp")
        scratch.write_text(json.dumps(responses))
        scratch.rename(responses_path)  # atomically: the floors read it once it exists
        for key, child in floors.items():
            self.floors[key] = procs.wait_ready(child, "Floor is ready")
        log("floor ready: " + ", ".join(f"{k} grpc {v.ready['grpc_port']}"
                                       for k, v in self.floors.items()))

    def _check_redis(self, reason: str | None) -> tuple[int | None, str | None]:
        """The Redis-mode sidecar answers and wrote its value key: (its size, None); else
        (None, why), noted and printed (these guards only catch a broken tree)."""
        if reason is None:
            try:
                child = self.sidecars["redis"]
                self._redis_client = self._redis.client()
                metered = next(s for s in scenarios() if s.name == "hit_redis_metered")
                raw = call(child.ready["grpc_port"], metered.method, metered.request)
                problem = check_answer(metered.method, raw)
                if problem:
                    raise RuntimeError(f"first read answered badly: {problem}")
                call(child.ready["grpc_port"], metered.method, metered.request)
                size = redis_value_size(self._redis_client, data.HIT_CUSTOMER)
                if size <= 0:
                    raise RuntimeError("the sidecar wrote no value key to Redis")
                log(f"Redis-mode sidecar ready (value key {size} bytes)")
                return size, None
            except Exception as error:  # noqa: BLE001 - any failure means "not available"
                reason = f"Redis mode did not work: {type(error).__name__}: {error}"
        self.sidecars.pop("redis", None)
        self.skipped["hit_redis_metered"] = reason
        print(f"NOTE: skipping hit_redis_metered — {reason}", flush=True)
        return None, reason

    # --- load ---
    def _measure(self, child: procs.Child, scenario: Scenario, concurrency: int,
                 response_size: int, warmup_s: float) -> load.Measurement:
        target = load.Target(child.ready["grpc_port"], scenario.method, scenario.request,
                             response_size)
        return self.generator.run(target, concurrency, warmup_s,
                                  self.config.measure_s / self.config.rounds, child.pid)

    def _alternate(self, floor: procs.Child, sidecar: procs.Child, scenario: Scenario,
                   concurrency: int, size: int,
                   baseline: Callable[[float], load.Measurement] | None = None,
                   ) -> tuple[load.Measurement, load.Measurement, dict[str, Any],
                              load.Measurement | None]:
        """F S F S … (F S B F S B … with a ``baseline(warmup_s)`` window, the cold
        miss's upstream measured directly): warm-up before each one's first window only,
        so every series sees the same stretch of the VM's noise. Also returns the noise
        figures of the cell: each round's sidecar ÷ floor throughput and the share of CPU
        time the hypervisor stole meanwhile (``procs.steal_fraction``)."""
        floors, sidecars, baselines = [], [], []
        stolen = procs.cpu_times()
        for index in range(self.config.rounds):
            warmup = self.config.warmup_s if index == 0 else 0.0
            floors.append(self._measure(floor, scenario, concurrency, size, warmup))
            sidecars.append(self._measure(sidecar, scenario, concurrency, size, warmup))
            if baseline is not None:
                baselines.append(baseline(warmup))
        rounds = [round(s.rps / f.rps, 3) if f.rps else None for f, s in zip(floors, sidecars)]
        noise = {"round_throughput_ratios": rounds,
                 "steal_pct": round(100 * procs.steal_fraction(stolen, procs.cpu_times()), 1)}
        return (load.merge(floors), load.merge(sidecars), noise,
                load.merge(baselines) if baselines else None)

    def _upstream_direct(self, concurrency: int) -> Callable[[float], load.Measurement] | None:
        """One window of the emulator's own latency for the fetch a cold miss makes, at
        ``concurrency`` (the cold-miss target: the sidecar's p99 is that plus a small
        constant); ``None`` without h2load."""
        if not isinstance(self.generator, load.H2Load):
            return None
        generator, url = self.generator, (
            f"{self.upstream}/v1/c/{data.COLD_CUSTOMER}/entitlements-state.json")
        headers = {"X-API-KEY": data.API_KEY, "X-API-VERSION": "1"}

        def window(warmup_s: float) -> load.Measurement:
            # Its requests (warm-up included) are not the sidecar's: counted to be
            # taken out of the cell's upstream requests per call.
            before = upstream_counts(self.upstream)
            measured = generator.run_get(url, headers, concurrency, warmup_s,
                                         self.config.measure_s / self.config.rounds,
                                         self.emulator.pid)
            # Edge GETs only: a sidecar's GraphQL call landing meanwhile stays its own.
            self._direct_requests += upstream_counts(self.upstream)["edge"] - before["edge"]
            return measured

        return window

    def _measure_scenario(self, scenario: Scenario) -> None:
        if scenario.name in self.skipped:
            return
        sidecar = self.sidecars.get(scenario.sidecar)
        floor = self.floors.get(scenario.floor)
        if sidecar is None or floor is None:
            self.skipped.setdefault(scenario.name, "server not started")
            return
        size = len(call(floor.ready["grpc_port"], scenario.method, scenario.request))
        entry: dict[str, Any] = {"name": scenario.name, "title": scenario.title,
                                 "method": scenario.method, "response_bytes": size,
                                 "runs": []}
        for concurrency in self.config.concurrencies:
            before = sidecar_metrics(sidecar)
            if scenario.count_upstream:
                reset_upstream_counters(self.upstream)
                self._direct_requests = 0
            baseline = (self._upstream_direct(concurrency)
                        if scenario.name == "cold_miss_metered" else None)
            floor_result, side_result, noise, direct = self._alternate(
                floor, sidecar, scenario, concurrency, size, baseline)
            counters = metric_delta(before, sidecar_metrics(sidecar))
            run: dict[str, Any] = {"concurrency": concurrency, "floor": floor_result.as_dict(),
                                   "sidecar": side_result.as_dict(), "sidecar_counters": counters,
                                   "noise": noise}
            if scenario.count_upstream:
                # Warm-up calls are included: upstream requests per sidecar call that
                # reached it — answered, failed, or cancelled by the load generator at the
                # end of a window (a cancelled ReportUsage has been sent on already).
                counts = upstream_counts(self.upstream)
                counts["total"] -= self._direct_requests
                counts["edge"] -= self._direct_requests
                run["upstream"] = counts
                served = (counters["calls_ok"] + counters["calls_not_ok"]
                          + counters.get("calls_cancelled", 0))
                run["upstream_per_call"] = round(counts["total"] / served, 4) if served else None
            if direct is not None:
                run["upstream_direct"] = direct.as_dict()
            run["ratios"] = report.ratios(floor_result, side_result)
            entry["runs"].append(run)
            log(f"{scenario.name} c={concurrency}: floor {floor_result.rps:.0f}/s "
                f"p99 {floor_result.p99_us:.0f}us, sidecar {side_result.rps:.0f}/s "
                f"p99 {side_result.p99_us:.0f}us (x{run['ratios']['throughput']}), "
                f"cpu {floor_result.cpu_us_per_call:.0f} vs {side_result.cpu_us_per_call:.0f}"
                f" us/call; not ok {counters['calls_not_ok']:.0f}, fallbacks "
                f"{counters['fallbacks']:.0f}")
        self.results["scenarios"].append(entry)

    # --- method noise ---
    def _method_noise(self) -> None:
        """The A/A cell: the floor against a second, identical floor process, with the
        same load, alternation and windows as every cell (``NOISE_SCENARIO``'s request),
        at each concurrency. Both servers run the same code, so any ratio but 1.00× is
        the method's own noise in this run: what a sidecar ÷ floor ratio may be off by.
        On this VM two identical floors measured 0.96–1.08× (pooled windows; single
        1 s windows 0.84–1.09×) — see bench/README.md, "Method noise (A/A)"."""
        floor, twin = self.floors.get("floor"), self.floors.get("floor_twin")
        if floor is None or twin is None:
            return
        scenario = next(s for s in scenarios() if s.name == NOISE_SCENARIO)
        size = len(call(floor.ready["grpc_port"], scenario.method, scenario.request))
        runs = []
        for concurrency in self.config.concurrencies:
            first, second, noise, _ = self._alternate(floor, twin, scenario, concurrency, size)
            runs.append({"concurrency": concurrency, "floor": first.as_dict(),
                         "twin": second.as_dict(), "noise": noise,
                         "ratios": report.ratios(first, second)})
            log(f"method noise c={concurrency}: floor {first.rps:.0f}/s, its twin "
                f"{second.rps:.0f}/s (x{runs[-1]['ratios']['throughput']})")
        self.results["method_noise"] = {"scenario": NOISE_SCENARIO, "runs": runs}

    # --- single flight ---
    def _single_flight(self) -> None:
        """N concurrent checks for one never-read customer → upstream fetches, on the
        WS-off sidecar (nothing is trusted: only single-flight prevents a stampede) with
        the emulator's Edge slowed so every call arrives while the fetch is in flight."""
        cfg = self.config
        sidecar = self.sidecars["cold"]
        request = pb.GetMeteredEntitlementRequest(customer_id=data.FLIGHT_CUSTOMER,
                                                  feature_id=data.METERED_FEATURE)
        httpx.post(f"{self.upstream}/_emulator/fault", json={
            "mode": "slow", "target": "edge", "delay_ms": cfg.flight_delay_ms}, timeout=5)
        reset_upstream_counters(self.upstream)
        try:
            outcome = asyncio.run(_concurrent_calls(
                sidecar.ready["grpc_port"], "GetMeteredEntitlement",
                request.SerializeToString(), cfg.flight_calls))
        finally:
            httpx.post(f"{self.upstream}/_emulator/fault", json={"mode": "none"}, timeout=5)
        state = httpx.get(f"{self.upstream}/_emulator/state", timeout=30).json()
        fetches = sum(1 for r in state["requests"] if r.get("customer_id") == data.FLIGHT_CUSTOMER)
        outcome.update(upstream_fetches=fetches, upstream_delay_ms=cfg.flight_delay_ms)
        self.results["single_flight"] = outcome
        log(f"single flight: {outcome['calls']} concurrent calls → {fetches} upstream fetch(es); "
            f"{outcome['ok']} answered, {outcome['fallback']} fallback, "
            f"wall {outcome['wall_s']} s")


async def _concurrent_calls(port: int, method: str, request: bytes, n: int) -> dict[str, Any]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        await channel.channel_ready()
        stub = channel.unary_unary(load.SERVICE_PATH + method)
        started = time.monotonic()
        answers = await asyncio.gather(*(stub(request, timeout=30) for _ in range(n)),
                                       return_exceptions=True)
        wall = time.monotonic() - started
    ok = [pb.GetMeteredEntitlementResponse.FromString(a) for a in answers
          if isinstance(a, bytes)]
    return {"calls": n, "ok": len(ok), "errors": n - len(ok),
            "fallback": sum(1 for a in ok if a.is_fallback), "wall_s": round(wall, 3)}


# ---------------------------------------------------------------- CLI


def parse_args(argv: list[str] | None) -> Config:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="seconds-long run, every path")
    parser.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")],
                        help="comma-separated, default 1,8,64")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up per measurement")
    parser.add_argument("--measure", type=float, help="seconds measured per measurement")
    parser.add_argument("--settle", type=float, help="seconds the servers stay idle after "
                        "start-up before the first cell (default 15)")
    parser.add_argument("--rounds", type=int, help="alternating floor/sidecar windows per "
                        "cell (default 2; the measured time is split between them)")
    parser.add_argument("--load", choices=["auto", "h2load", "python"], default="auto",
                        help="load generator (auto: h2load if installed)")
    parser.add_argument("--event-loop", choices=event_loop.EVENT_LOOPS,
                        default=os.environ.get("EVENT_LOOP", "auto"),
                        help="EVENT_LOOP of the floor and the sidecar (default: $EVENT_LOOP or auto)")
    parser.add_argument("--sidecar-cmd", help="command that starts one sidecar (shell words); "
                        "it must read the sidecar's env and log a \"Sidecar is ready\" JSON "
                        "line with grpc_port and http_port")
    parser.add_argument("--fixed-ports", action="store_true", help="give each sidecar free "
                        "fixed PORT/HTTP_PORT instead of 0 (e.g. for WORKERS > 1)")
    parser.add_argument("--scenario", action="append", help="run only these (repeatable): "
                        + ", ".join(s.name for s in scenarios()))
    parser.add_argument("--memory-customers", type=int, help="customers in the memory run")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory run")
    parser.add_argument("--results", type=Path, default=RESULTS, help="results directory")
    args = parser.parse_args(argv)
    config = smoke_config(args.results) if args.smoke else Config(results_dir=args.results)
    if args.concurrency:
        config.concurrencies = args.concurrency
    if args.warmup is not None:
        config.warmup_s = args.warmup
    if args.measure is not None:
        config.measure_s = args.measure
    if args.rounds:
        config.rounds = args.rounds
    if args.settle is not None:
        config.settle_s = args.settle
    config.generator = args.load
    config.event_loop = args.event_loop
    os.environ["EVENT_LOOP"] = args.event_loop  # both servers inherit it (procs.python_env)
    if args.sidecar_cmd:
        config.sidecar_cmd = shlex.split(args.sidecar_cmd)
    config.scenarios = args.scenario
    global FIXED_PORTS
    FIXED_PORTS = args.fixed_ports
    if args.memory_customers:
        config.memory.customers = args.memory_customers
    config.skip_memory = args.no_memory
    return config


def main(argv: list[str] | None = None, on_done: Callable[[dict], None] | None = None) -> int:
    config = parse_args(argv)
    results = Run(config).execute()
    print(report.markdown(results), flush=True)
    if on_done:
        on_done(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
