"""The command line starts a server, prints its address and stops on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from stigg_emulator import DEMO_SCENARIO

DEVTOOLS = Path(__file__).resolve().parents[2] / "devtools"


def test_cli_serves_until_sigterm(tmp_path):
    port_file = tmp_path / "port"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(DEVTOOLS), os.environ.get("PYTHONPATH", "")]))
    process = subprocess.Popen(
        [sys.executable, "-m", "stigg_emulator", "--port", "0", "--api-key", "K",
         "--scenario", DEMO_SCENARIO, "--port-file", str(port_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = process.stdout.readline()
        match = re.fullmatch(r"stigg-emulator listening on (http://127\.0\.0\.1:(\d+))\n", line)
        assert match, (line, process.stderr.read() if process.poll() is not None else "")
        assert port_file.read_text().strip() == match.group(2)
        response = httpx.get(f"{match.group(1)}/v1/c/acme/entitlements-state.json",
                             headers={"X-API-KEY": "K", "X-API-VERSION": "1"}, timeout=5)
        assert response.status_code == 200
        assert response.json()["data"]["entitlementsState"]["entitlementsV2"]
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            assert process.wait(timeout=5) == 0
        finally:
            if process.poll() is None:
                process.kill()
            process.stdout.close()
            process.stderr.close()
