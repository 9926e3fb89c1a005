"""Benchmark data: upstream-shaped entitlement states for the emulator and the memory run.

Entitlements are built with the emulator's own builders (the upstream GraphQL shape,
every selected field present), in a realistic mix: booleans, numeric limits, monthly
metered features with usage in the *current* month (so the sidecar never rolls usage
over during a run) and enums. Deterministic: the same ``(customer, n)`` gives the same
items.
"""
from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "devtools") not in sys.path:
    sys.path.insert(0, str(ROOT / "devtools"))

from stigg_emulator.builders import customer, feature, monthly_reset, snapshot  # noqa: E402

API_KEY = "bench-server-key"
#: The customers and features the load scenarios read.
HIT_CUSTOMER = "bench-hit"
STATE_CUSTOMER = "bench-state50"
COLD_CUSTOMER = "bench-cold"
USAGE_CUSTOMER = "bench-usage"
FLIGHT_CUSTOMER = "bench-flight"
METERED_FEATURE = "api-calls"
BOOLEAN_FEATURE = "sso"
#: Entitlements per customer of the load scenarios (the state scenario has 50).
ENTITLEMENTS_PER_CUSTOMER = 20
STATE_ENTITLEMENTS = 50


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def current_period() -> tuple[str, str]:
    """This month's usage period (start, end) as upstream DateTimes."""
    start = datetime.now(timezone.utc).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    return _iso(start), _iso(end)


def entitlements(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` feature entitlements; the first two are the metered ``api-calls`` and the
    boolean ``sso`` the load scenarios ask for, the rest cycle through four kinds."""
    start, end = current_period()
    metered = dict(
        usageLimit=1_000_000, currentUsage=40 + seed % 1000, resetPeriod="MONTH",
        resetPeriodConfiguration=monthly_reset(), usagePeriodAnchor="2025-01-01T00:00:00.000Z",
        usagePeriodStart=start, usagePeriodEnd=end, usageUpdatedAt=start,
    )
    items = [
        feature(METERED_FEATURE, "NUMBER", "Incremental",
                feature={"displayName": "API calls", "featureUnits": "call",
                         "featureUnitsPlural": "calls"}, **metered),
        feature(BOOLEAN_FEATURE, "BOOLEAN", feature={"displayName": "Single sign-on"}),
    ]
    for index in range(2, n):
        ref = f"feature-{index:03d}"
        kind = index % 4
        if kind == 0:
            items.append(feature(ref, "BOOLEAN", feature={"displayName": f"Feature {index}"}))
        elif kind == 1:
            items.append(feature(ref, "NUMBER", feature={
                "displayName": f"Seats {index}", "featureUnits": "seat",
                "featureUnitsPlural": "seats"}, usageLimit=5 + index))
        elif kind == 2:
            items.append(feature(ref, "NUMBER", "Fluctuating", feature={
                "displayName": f"Storage {index}", "featureUnits": "GB",
                "featureUnitsPlural": "GB"}, **metered))
        else:
            items.append(feature(ref, "ENUM", feature={"displayName": f"Region {index}"},
                                 enumValues=["eu", "us", "apac"]))
    return items[:n]


def state(customer_id: str, n: int = ENTITLEMENTS_PER_CUSTOMER, seed: int = 0) -> dict[str, Any]:
    """One snapshot ``customers`` entry."""
    return customer(customer_id, entitlements(n, seed))


def load_snapshot(extra_cold: int = 0) -> dict[str, Any]:
    """The emulator scenario of the load run."""
    entries = [
        state(HIT_CUSTOMER), state(COLD_CUSTOMER), state(USAGE_CUSTOMER),
        state(FLIGHT_CUSTOMER), state(STATE_CUSTOMER, STATE_ENTITLEMENTS),
    ]
    entries += [state(f"bench-cold-{i}") for i in range(extra_cold)]
    return snapshot(*entries)


def write_snapshot(path: Path, extra_cold: int = 0) -> Path:
    path.write_text(json.dumps(load_snapshot(extra_cold)))
    return path
