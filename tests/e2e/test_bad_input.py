"""Bad input never crashes the server: reads answer (fallback, no upstream call) and
writes fail with INVALID_ARGUMENT naming the field; nothing is sent upstream."""
from __future__ import annotations

import math

import pytest
from stigg_emulator import feature

from sidecarpb.v1 import sidecar_pb2 as pb
from support.errors import status_message, status_name
from support.upstream import entitlement_reads

HUGE = "x" * 10_000


@pytest.fixture
async def ready(emulator, sidecar):
    emulator.set_customer("acme", [feature("api-calls", "NUMBER", "Incremental", usageLimit=10)])
    emulator.reset_counters()
    return sidecar


@pytest.mark.parametrize("customer,feature_id", [("", "api-calls"), ("acme", ""), (HUGE, "api-calls"),
                                                 ("acme", HUGE), ("acme\n{evil}", "x\x00y")])
async def test_reads_with_unusable_ids_answer_fallback(emulator, ready, customer, feature_id):
    _, client = ready
    for rpc, request in (
        ("GetBooleanEntitlement", pb.GetBooleanEntitlementRequest(customer_id=customer, feature_id=feature_id)),
        ("GetMeteredEntitlement", pb.GetMeteredEntitlementRequest(customer_id=customer, feature_id=feature_id)),
        ("GetEntitlement", pb.GetEntitlementRequest(customer_id=customer, feature_id=feature_id)),
    ):
        r = await client.call(rpc, request)
        if customer.startswith("acme\n"):
            assert not r.has_access  # odd but short ids are looked up: an unknown customer
        else:
            assert r.is_fallback and not r.has_access
    if not customer.startswith("acme\n"):
        assert entitlement_reads(emulator) == 0


@pytest.mark.parametrize("requested", [math.nan, math.inf, -math.inf, -5.0])
async def test_odd_requested_usage_is_answered(ready, requested):
    _, client = ready
    r = await client.call("GetMeteredEntitlement", pb.GetMeteredEntitlementRequest(
        customer_id="acme", feature_id="api-calls",
        options=pb.MeteredEntitlementOptions(requested_usage=requested)))
    assert not r.is_fallback
    # NaN counts as 0; +inf cannot fit; -inf and negatives are used as given.
    assert r.has_access is (requested != math.inf)


@pytest.mark.parametrize("request_,field", [
    (pb.ReportUsageRequest(customer_id="", feature_id="api-calls", value=1), "customer_id must not be empty"),
    (pb.ReportUsageRequest(customer_id="acme", feature_id="", value=1), "feature_id must not be empty"),
    (pb.ReportUsageRequest(customer_id="acme", feature_id="api-calls", value=math.nan), "value must be a finite number"),
    (pb.ReportUsageRequest(customer_id="acme", feature_id="api-calls", value=math.inf), "value must be a finite number"),
    (pb.ReportUsageRequest(customer_id=HUGE, feature_id="api-calls", value=1), "customer_id must be at most"),
    (pb.ReportUsageRequest(customer_id="acme", feature_id="api-calls", value=1, update_behavior=7),
     "update_behavior must be DELTA or SET"),
    (pb.ReportUsageRequest(customer_id="acme", feature_id="api-calls", value=1,
                           dimensions={"k": pb.EventDimensionValue()}), "dimensions['k'] must set one of"),
    (pb.ReportUsageRequest(customer_id="acme", feature_id="api-calls", value=1,
                           dimensions={"k": pb.EventDimensionValue(number_value=math.nan)}),
     "dimensions['k'].number_value must be a finite number"),
    (pb.ReportUsageRequest(customer_id="acme", feature_id="api-calls", value=1,
                           dimensions={f"d{i}": pb.EventDimensionValue(boolean_value=True) for i in range(101)}),
     "dimensions must have at most 100 entries"),
])
async def test_report_usage_rejects_bad_input(emulator, ready, request_, field):
    _, client = ready
    with pytest.raises(Exception) as raised:
        await client.call("ReportUsage", request_)
    assert status_name(raised.value) == "INVALID_ARGUMENT"
    assert field in status_message(raised.value)
    assert emulator.usage_inputs == []


async def test_bulk_names_the_item_and_sends_nothing(emulator, ready):
    _, client = ready
    usages = [pb.ReportUsageRequest(customer_id="acme", feature_id="api-calls", value=1) for _ in range(5)]
    usages[3].feature_id = ""
    with pytest.raises(Exception) as raised:
        await client.call("ReportUsageBulk", pb.ReportUsageBulkRequest(usages=usages))
    assert status_name(raised.value) == "INVALID_ARGUMENT"
    assert status_message(raised.value) == "usages[3].feature_id must not be empty"
    assert emulator.usage_inputs == []


@pytest.mark.parametrize("event,field", [
    (pb.Event(event_name="", customer_id="acme", idempotency_key="k"), "events[1].event_name must not be empty"),
    (pb.Event(event_name="e", customer_id="", idempotency_key="k"), "events[1].customer_id must not be empty"),
    (pb.Event(event_name="e", customer_id="acme", idempotency_key=""), "events[1].idempotency_key must not be empty"),
])
async def test_report_events_rejects_bad_input(emulator, ready, event, field):
    _, client = ready
    good = pb.Event(event_name="e", customer_id="acme", idempotency_key="ok")
    with pytest.raises(Exception) as raised:
        await client.call("ReportEvents", pb.ReportEventsRequest(events=[good, event]))
    assert status_name(raised.value) == "INVALID_ARGUMENT"
    assert status_message(raised.value) == field
    assert emulator.events_received == []


async def test_server_keeps_serving_after_bad_input(ready):
    _, client = ready
    with pytest.raises(Exception):
        await client.call("ReportUsage", pb.ReportUsageRequest(customer_id="", feature_id="", value=math.nan))
    r = await client.call("GetMeteredEntitlement", pb.GetMeteredEntitlementRequest(
        customer_id="acme", feature_id="api-calls"))
    assert r.has_access and not r.is_fallback


@pytest.mark.parametrize("payload", [b"\x0a\x02\xff\xfe\x12\x03sso", b"\xff" * 64, b"\x08"])
async def test_garbage_bytes_are_invalid_argument_and_the_server_keeps_serving(ready, payload):
    import grpc

    app, client = ready
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
        raw = channel.unary_unary("/stigg.sidecar.v1.SidecarService/ReportUsage")
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await raw(payload, timeout=5)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details() == "request is not a valid ReportUsageRequest message"
    r = await client.call("GetMeteredEntitlement", pb.GetMeteredEntitlementRequest(
        customer_id="acme", feature_id="api-calls"))
    assert r.has_access


async def test_long_dimension_text_is_rejected(emulator, ready):
    _, client = ready
    with pytest.raises(Exception) as raised:
        await client.call("ReportUsage", pb.ReportUsageRequest(
            customer_id="acme", feature_id="api-calls", value=1,
            dimensions={"k": pb.EventDimensionValue(string_value="x" * 10_001)}))
    assert status_name(raised.value) == "INVALID_ARGUMENT"
    assert "dimensions['k'] must be at most 10000 characters" in status_message(raised.value)


async def test_messages_over_the_inbound_limit_are_refused(ready):
    import grpc

    app, client = ready
    huge = pb.ReportUsageRequest(customer_id="acme", feature_id="x" * (17 * 1024 * 1024), value=1)
    options = [("grpc.max_send_message_length", 64 * 1024 * 1024)]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}", options=options) as channel:
        raw = channel.unary_unary("/stigg.sidecar.v1.SidecarService/ReportUsage")
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await raw(huge.SerializeToString(), timeout=10)
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
