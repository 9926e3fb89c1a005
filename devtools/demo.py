"""The demo of `make demo`: a local Stigg emulator, a real sidecar process, and a few
checks and a usage report through the official `stigg-sidecar-sdk` client.

Nothing leaves the machine: the sidecar's API, Edge and WebSocket URLs point at the
emulator on 127.0.0.1.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
from grpclib.exceptions import GRPCError
from stigg_sidecar_sdk import (
    BooleanEntitlementFallback,
    BooleanEntitlementOptions,
    AccessDeniedReason,
    GetEntitlementV2Response,
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


def current_month_scenario(directory: Path) -> Path:
    """The demo scenario with every monthly usage period moved to the current month, so
    the demo's usage is not rolled over by the sidecar (its dates are fixed in the file)."""
    today = datetime.now(timezone.utc)
    start = today.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    iso = lambda moment: moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")  # noqa: E731
    snapshot = json.loads(SCENARIO.read_text())
    for entry in snapshot["customers"]:
        for item in entry["entitlementsState"]["entitlementsV2"]:
            if item.get("resetPeriod") == "MONTH":
                item["usagePeriodStart"], item["usagePeriodEnd"] = iso(start), iso(end)
            if item.get("__typename") == "CreditEntitlement" and item.get("usagePeriodEnd"):
                item["usagePeriodEnd"] = iso(end)
    path = directory / "demo-scenario.json"
    path.write_text(json.dumps(snapshot))
    return path


def start_emulator(scenario: Path) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "devtools"))
    process = subprocess.Popen(
        [sys.executable, "-m", "stigg_emulator", "--port", "0", "--api-key", API_KEY,
         "--scenario", str(scenario)],
        stdout=subprocess.PIPE, text=True, env=env,
    )
    line = _read_line(process, lambda l: l.startswith("stigg-emulator listening on"), "emulator")
    return process, line.rsplit(" ", 1)[1]


def start_sidecar(upstream: str, directory: Path) -> tuple[subprocess.Popen, int]:
    env = dict(
        os.environ, OUTBOX_DIR=str(directory / "outbox"),
        SERVER_API_KEY=API_KEY, API_URL=upstream, EDGE_API_URL=upstream,
        WS_URL=upstream.replace("http://", "ws://"), WS_ENABLED="false",
        PORT="0", HTTP_PORT="0", BIND_ADDRESS="127.0.0.1", LOG_LEVEL="info",
        ENTITLEMENTS_FALLBACK='{"beta-ui":{"hasAccess":true}}', ENTITLEMENTS_TIMEOUT_MS="1000",
        API_TIMEOUT_MS="2000",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "bootstrap"], stdout=subprocess.PIPE, text=True, env=env,
        cwd=ROOT,
    )
    line = _read_line(process, lambda l: '"Sidecar is ready"' in l, "sidecar")
    return process, json.loads(line)["grpc_port"]


def show(title: str, response) -> None:
    """One line per answer: the decision, then the data a caller would look at."""
    decision = response.entitlement if isinstance(response, GetEntitlementV2Response) else response
    parts = []
    if hasattr(decision, "has_access"):
        parts += [f"has_access={decision.has_access}", f"is_fallback={decision.is_fallback}"]
        if decision.access_denied_reason is not None:
            parts.append(f"reason={AccessDeniedReason(decision.access_denied_reason).name}")
    data = response.to_dict(include_default_values=False)
    inner = data.get("entitlement", data)
    for member in ("metered", "credit", "numeric", "enum", "boolean"):
        inner = inner.get(member, inner)
    picked = {k: v for k, v in {**data, **inner}.items() if k in (
        "requestedUsage", "requestedValues", "usageLimit", "currentUsage", "remaining", "value",
        "enumValues", "measurementId")}
    parts += [f"{key}={value}" for key, value in picked.items()]
    print(f"  {title:<48} {' '.join(parts)}")


async def set_fault(upstream: str, **fault) -> None:
    async with httpx.AsyncClient() as http:
        (await http.post(f"{upstream}/_emulator/fault", json=fault)).raise_for_status()


async def run_client(port: int, upstream: str) -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the SDK turns on INFO logging
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
        print("the emulator now drops every connection (Stigg is down):")
        await set_fault(upstream, mode="down")
        show("metered 'api-calls' for acme (last-known-good)", await client.get_metered_entitlement(
            GetMeteredEntitlementRequest(customer_id="acme", feature_id="api-calls")))
        show("boolean 'beta-ui' for newco (global fallback)", await client.get_boolean_entitlement(
            GetBooleanEntitlementRequest(customer_id="newco", feature_id="beta-ui")))
        show("boolean 'sso' for newco (per-request fallback)", await client.get_boolean_entitlement(
            GetBooleanEntitlementRequest(customer_id="newco", feature_id="sso",
                                         options=BooleanEntitlementOptions(
                                             fallback=BooleanEntitlementFallback(has_access=True)))))
        try:
            await client.report_usage(ReportUsageRequest(customer_id="acme", feature_id="api-calls", value=1))
        except GRPCError as error:
            print(f"  {'report 1 api-calls for acme':<48} {error.status.name}: {error.message}")
        await set_fault(upstream, mode="none")
    finally:
        client.close()


def main() -> int:
    with tempfile.TemporaryDirectory() as directory:
        return run(Path(directory))


def run(directory: Path) -> int:
    emulator, upstream = start_emulator(current_month_scenario(directory))
    print(f"emulator serving the Stigg API on {upstream}")
    sidecar = None
    try:
        sidecar, port = start_sidecar(upstream, directory)
        print("sidecar ready")
        asyncio.run(run_client(port, upstream))
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
