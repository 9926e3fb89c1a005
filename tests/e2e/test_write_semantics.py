"""Write semantics: a retried usage report counts once; float sums at a limit."""
from __future__ import annotations

import pytest
from stigg_emulator import feature

from sidecarpb.v1 import sidecar_pb2 as pb


@pytest.mark.parametrize("delay_ms", [0, 1500])  # connection drop / attempt timeout
async def test_retry_after_upstream_applied_the_first_attempt_counts_once(emulator, start_sidecar, delay_ms):
    async with start_sidecar(API_TIMEOUT_MS="8000") as (app, client):
        emulator.set_customer("acme", [feature("api-calls", "NUMBER", "Incremental", usageLimit=100,
                                               currentUsage=40)])
        # The first attempt is applied upstream, then its answer never arrives.
        emulator.set_fault("apply_then_drop", target="graphql", operation="reportUsage",
                           delay_ms=delay_ms, count=1)
        r = await client.call("ReportUsage", pb.ReportUsageRequest(
            customer_id="acme", feature_id="api-calls", value=5), timeout=20)
        assert r.current_usage == 45
        attempts = emulator.usage_inputs
        assert len(attempts) == 2 and attempts[0]["idempotencyKey"] == attempts[1]["idempotencyKey"]
        assert emulator.applied_usage_keys == 1 and emulator.usage_replays == 1
        assert emulator.get_usage("acme", "api-calls") == 45


async def test_float_sum_exactly_at_the_limit_is_allowed(emulator, sidecar):
    app, client = sidecar
    emulator.set_customer("acme", [feature("gb", "NUMBER", "Fluctuating", usageLimit=0.3, currentUsage=0.1)])
    r = await client.call("GetMeteredEntitlement", pb.GetMeteredEntitlementRequest(
        customer_id="acme", feature_id="gb", options=pb.MeteredEntitlementOptions(requested_usage=0.2)))
    assert r.has_access  # 0.1 + 0.2 is 0.30000000000000004 in binary floating point
    r = await client.call("GetMeteredEntitlement", pb.GetMeteredEntitlementRequest(
        customer_id="acme", feature_id="gb", options=pb.MeteredEntitlementOptions(requested_usage=0.2001)))
    assert not r.has_access
