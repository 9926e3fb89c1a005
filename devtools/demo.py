"""The demo of `make demo`: a local Stigg emulator, a real sidecar process, and a few
checks and a usage report through the official `stigg-sidecar-sdk` client.

Nothing leaves the machine: the sidecar's API, Edge and WebSocket URLs point at the
emulator on 127.0.0.1.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from stigg_sidecar_sdk import (
    ApiConfig,
    GetBooleanEntitlementRequest,
    GetEntitlementsStateV2Request,
    GetEntitlementV2Request,
    GetEnumEntitlementRequest,
    GetMeteredEntitlementRequest,
    EnumEntitlementOptions,
    MeteredEntitlementOptions,
    ReportUsageRequest,
    Stigg,
)

ROOT = Path(__file__).resolve().parents[1]
API_KEY = "demo-server-key"
SCENARIO = ROOT / "devtools" / "stigg_emulator" / "scenarios" / "demo.json"


def _read_line(process: subprocess.Popen, predicate, what: str) -> str:
    """The first stdout line matching ``predicate``; the rest is drained in the background
    so a chatty child never blocks on a full pipe."""
    for raw in process.stdout:
        line = raw.strip()
        if predicate(line):
            threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
            return line
    raise SystemExit(f"{what} exited before it was ready (exit {process.wait()})")


def start_emulator() -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "devtools"))
    process = subprocess.Popen(
        [sys.executable, "-m", "stigg_emulator", "--port", "0", "--api-key", API_KEY,
         "--scenario", str(SCENARIO)],
        stdout=subprocess.PIPE, text=True, env=env,
    )
    line = _read_line(process, lambda l: l.startswith("stigg-emulator listening on"), "emulator")
    return process, line.rsplit(" ", 1)[1]


def start_sidecar(upstream: str) -> tuple[subprocess.Popen, int]:
    env = dict(
        os.environ,
        SERVER_API_KEY=API_KEY, API_URL=upstream, EDGE_API_URL=upstream,
        WS_URL=upstream.replace("http://", "ws://"), WS_ENABLED="false",
        PORT="0", HTTP_PORT="0", BIND_ADDRESS="127.0.0.1", LOG_LEVEL="info",
        ENTITLEMENTS_FALLBACK='{"beta-ui":{"hasAccess":false}}',
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "bootstrap"], stdout=subprocess.PIPE, text=True, env=env,
        cwd=ROOT,
    )
    line = _read_line(process, lambda l: '"Sidecar is ready"' in l, "sidecar")
    return process, json.loads(line)["grpc_port"]


def show(title: str, response) -> None:
    fields = response.to_dict(include_default_values=False)
    print(f"  {title}\n    -> {json.dumps(fields, default=str)}")


async def run_client(port: int) -> None:
    client = Stigg(ApiConfig(api_key=API_KEY), remote_sidecar_host="127.0.0.1",
                   remote_sidecar_port=port)
    try:
        print(f"official client connected to the sidecar on 127.0.0.1:{port}")
        show("boolean 'sso' for acme", await client.get_boolean_entitlement(
            GetBooleanEntitlementRequest(customer_id="acme", feature_id="sso")))
        show("metered 'api-calls' for acme, requesting 10", await client.get_metered_entitlement(
            GetMeteredEntitlementRequest(customer_id="acme", feature_id="api-calls",
                                         options=MeteredEntitlementOptions(requested_usage=10))))
        show("enum 'region' for acme, requesting apac", await client.get_enum_entitlement(
            GetEnumEntitlementRequest(customer_id="acme", feature_id="region",
                                      options=EnumEntitlementOptions(requested_values=["apac"]))))
        show("credits 'usd-credits' for acme (V2)", await client.get_entitlement_v2(
            GetEntitlementV2Request(customer_id="acme", currency_id="usd-credits")))
        show("boolean 'sso' for ghost (unknown customer)", await client.get_boolean_entitlement(
            GetBooleanEntitlementRequest(customer_id="ghost", feature_id="sso")))
        show("report 5 'api-calls' for acme", await client.report_usage(
            ReportUsageRequest(customer_id="acme", feature_id="api-calls", value=5)))
        show("metered 'api-calls' for acme after the report", await client.get_metered_entitlement(
            GetMeteredEntitlementRequest(customer_id="acme", feature_id="api-calls")))
        state = await client.get_entitlements_state_v2(GetEntitlementsStateV2Request(customer_id="acme"))
        print(f"  state of acme: {len(state.entitlements)} entitlements")
    finally:
        client.close()


def main() -> int:
    emulator, upstream = start_emulator()
    print(f"emulator serving the Stigg API on {upstream}")
    sidecar = None
    try:
        sidecar, port = start_sidecar(upstream)
        print("sidecar ready")
        asyncio.run(run_client(port))
        sidecar.send_signal(signal.SIGTERM)
        code = sidecar.wait(timeout=15)
        print(f"sidecar stopped on SIGTERM with exit status {code}")
        return 0 if code == 0 else 1
    finally:
        for process in (sidecar, emulator):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
