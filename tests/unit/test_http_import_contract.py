"""import-linter: the HTTP adapter imports neither the gRPC adapter nor generated code.

``make test`` runs every contract; this test keeps the HTTP ones in the test suite too.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _contracts() -> list[dict]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def test_the_http_adapter_is_forbidden_the_grpc_adapter_and_generated_code():
    forbidden = {m for c in _contracts() if c["type"] == "forbidden"
                 and "adapters.inbound.http" in c["source_modules"] for m in c["forbidden_modules"]}
    assert {"adapters.inbound.grpc", "sidecarpb", "grpc", "google"} <= forbidden


def test_lint_imports_keeps_the_http_contract():
    command = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert command is not None, "import-linter is a dev dependency"
    done = subprocess.run([command, "--contract", "http-not-grpc", "--no-cache"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "The HTTP adapter does not use the gRPC adapter KEPT" in done.stdout
