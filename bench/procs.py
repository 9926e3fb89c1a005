"""Child processes of a benchmark run: start, wait for ready, measure CPU and RSS, stop.

Every child writes stdout and stderr to a log file under the run's directory (no pipes
to drain); readiness is a marker line in that file. CPU and RSS are read from /proc for
the child *and its descendants* (a server command that forks workers is measured whole).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


class StartError(RuntimeError):
    pass


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    log_path: Path
    ready: dict = field(default_factory=dict)
    terminated: bool = False
    env: dict = field(default_factory=dict, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def terminate(self) -> None:
        """SIGTERM once (a second one makes the sidecar exit at once, unclean)."""
        if self.process.poll() is None and not self.terminated:
            self.terminated = True
            self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout_s: float = 15.0) -> int | None:
        if self.process.poll() is None:
            self.terminate()
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        return self.process.returncode


def launch(name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> Child:
    """Start ``argv`` without waiting (see ``wait_ready``)."""
    log_path = log_dir / f"{name}.log"
    with open(log_path, "wb") as sink:
        process = subprocess.Popen(argv, env=env, stdout=sink, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, cwd=ROOT)
    return Child(name, process, log_path, env=env)


def start(name: str, argv: list[str], env: dict[str, str], marker: str, log_dir: Path,
          timeout_s: float = 30.0) -> Child:
    """Start ``argv``; return once a line containing ``marker`` is logged. A JSON line is
    parsed into ``Child.ready``; otherwise ``ready = {"line": ...}``."""
    return wait_ready(launch(name, argv, env, log_dir), marker, timeout_s)


def stop_all(children: list[Child], timeout_s: float = 15.0) -> None:
    """SIGTERM every live child at once, then wait for each (SIGKILL after the timeout)."""
    for child in children:
        child.terminate()
    for child in children:
        child.stop(timeout_s)


def wait_ready(child: Child, marker: str, timeout_s: float = 30.0) -> Child:
    """Wait for ``marker`` in the child's log (see ``start``)."""
    process = child.process
    name = child.name
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in child.log_tail(1 << 20).splitlines():
            if marker in line:
                try:
                    child.ready = json.loads(line)
                except ValueError:
                    child.ready = {"line": line.strip()}
                for variable, key in (("PORT", "grpc_port"), ("HTTP_PORT", "http_port")):
                    if child.env.get(variable, "0") != "0":  # fixed ports were given
                        child.ready[key] = int(child.env[variable])
                return child
        if process.poll() is not None:
            raise StartError(f"{name} exited ({process.returncode}) before it was ready:\n"
                             f"{child.log_tail()}")
        time.sleep(0.05)
    child.stop()
    raise StartError(f"{name} was not ready within {timeout_s} s:\n{child.log_tail()}")


def python_env(**extra: str) -> dict[str, str]:
    """The environment for Python children: src/ and devtools/ importable."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("REDIS_", "STIGG_", "ENTITLEMENTS_", "CACHE_", "WS_"))}
    paths = [str(ROOT / "src"), str(ROOT / "devtools"), str(ROOT)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["EVENTS_MODE"] = "passthrough"  # benchmarks measure the pass-through write path
    env.update(extra)
    return env


EMULATOR_READY = "stigg-emulator listening on"


def emulator_argv(scenario: Path, api_key: str) -> list[str]:
    return [sys.executable, "-m", "stigg_emulator", "--port", "0", "--api-key", api_key,
            "--scenario", str(scenario), "--host", "127.0.0.1"]


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ---------------------------------------------------------------- /proc


def descendants(pid: int) -> list[int]:
    """``pid`` and every live descendant."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def _stat_fields(pid: int) -> list[bytes]:
    with open(f"/proc/{pid}/stat", "rb") as stat:
        return stat.read().rsplit(b")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and its live descendants, in seconds."""
    total = 0
    for member in descendants(pid):
        try:
            fields = _stat_fields(member)
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / CLK_TCK


def rss_bytes(pid: int) -> int:
    """Resident set size of ``pid`` and its live descendants, in bytes."""
    total = 0
    for member in descendants(pid):
        try:
            with open(f"/proc/{member}/statm") as statm:
                total += int(statm.read().split()[1]) * PAGE
        except OSError:
            continue
    return total


def cpu_times() -> list[int]:
    """The machine's CPU time counters (jiffies) from the ``cpu`` line of /proc/stat:
    user, nice, system, idle, iowait, irq, softirq, steal, … ([] where unreadable)."""
    try:
        with open("/proc/stat") as stat:
            return [int(x) for x in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return []


def steal_fraction(before: list[int], after: list[int]) -> float:
    """Share of all CPU time between two ``cpu_times()`` that the hypervisor gave to
    other guests (steal): the shared machine's noise during a measurement."""
    if len(before) < 8 or len(after) < 8:
        return 0.0
    total = sum(after[:8]) - sum(before[:8])
    return (after[7] - before[7]) / total if total > 0 else 0.0
