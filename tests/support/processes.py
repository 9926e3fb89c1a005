"""Real processes for tests: the emulator and the sidecar as separate OS processes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Child:
    process: subprocess.Popen
    lines: list[str] = field(default_factory=list)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def _start(argv: list[str], env: dict[str, str], ready: str) -> tuple[Child, str]:
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, cwd=ROOT)
    child = Child(process)
    for line in process.stdout:
        child.lines.append(line)
        if ready in line:
            threading.Thread(target=lambda: child.lines.extend(process.stdout), daemon=True).start()
            return child, line
    raise RuntimeError(f"{argv} exited early: {''.join(child.lines)[-2000:]}")


def start_emulator(api_key: str, scenario: Path | None = None) -> tuple[Child, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "devtools"))
    argv = [sys.executable, "-m", "stigg_emulator", "--port", "0", "--api-key", api_key]
    if scenario is not None:
        argv += ["--scenario", str(scenario)]
    child, line = _start(argv, env, "stigg-emulator listening on")
    return child, line.strip().rsplit(" ", 1)[1]


def start_sidecar(env: dict[str, str]) -> tuple[Child, dict]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "ENTITLEMENTS_"))}
    child, line = _start([sys.executable, "-m", "bootstrap"], full | env, '"Sidecar is ready"')
    return child, json.loads(line)
