"""Response reuse in Redis mode, through a real gRPC server on 127.0.0.1:0 and the
generated stubs: every call still reads Redis; when the read gives back the same set
(decode memo) the response built before is sent, and any change in Redis is answered."""
from __future__ import annotations

import grpc
import pytest

from adapters.inbound.grpc.server import GrpcServer
from adapters.inbound.grpc.servicer import SidecarServicer
from adapters.inbound.use_cases import UseCases
from domain.model.entitlement import Usage
from domain.model.fallback import EMPTY_FALLBACK_TABLE
from domain.model.freshness import UNCHANGED
from domain.model.reports import UsageTarget
from domain.services.check_entitlement import CheckCredit, CheckEntitlement, CheckTypedEntitlement
from domain.services.check_entitlement_v2 import CheckEntitlementV2
from domain.services.get_entitlements_state import GetEntitlementsState
from domain.services.load_entitlements import LoadEntitlements
from domain.services.read_context import ReadContext
from sidecarpb.v1 import sidecar_pb2 as pb
from sidecarpb.v1 import sidecar_pb2_grpc
from support import requests
from tests.fakes import FakeEntitlementSource, FixedClock, RecordingTelemetry, epoch_ms
from tests.fakes.builders import ACME, entitlement_set, metered

END = "2025-07-31T23:59:59Z"


async def mgets(client) -> int:
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_mget", {}).get("calls", 0))


@pytest.fixture
async def sidecar(make_cache):
    clock = FixedClock("2025-07-10T15:30:00Z")
    cache, writer = make_cache(clock=clock), make_cache(clock=clock)  # two "sidecars"
    source, telemetry = FakeEntitlementSource(), RecordingTelemetry()
    loader = LoadEntitlements(cache, source, clock, telemetry)
    ctx = ReadContext(loader, EMPTY_FALLBACK_TABLE, clock, telemetry, 1.0)
    generic = CheckEntitlement(ctx)
    use_cases = UseCases(
        typed=CheckTypedEntitlement(ctx), generic=generic,
        v2=CheckEntitlementV2(ctx, generic, CheckCredit(ctx)), state=GetEntitlementsState(ctx),
        reload=None, usage=None, events=None)  # type: ignore[arg-type] - reads only
    servicer = SidecarServicer(use_cases, clock)
    server = GrpcServer(servicer, "127.0.0.1", 0)
    await writer.put(entitlement_set(metered("api-calls", 10, 3, start="2025-07-01T00:00:00Z",
                                             end=END, reset=None), timestamp=5), None)
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield (sidecar_pb2_grpc.SidecarServiceStub(channel), servicer, writer, clock, source,
               telemetry)
    await server.stop(0.5)


def metered_request(requested: float = 1) -> pb.GetMeteredEntitlementRequest:
    return requests.metered_request("acme", "api-calls", requested)


async def test_each_call_reads_redis_and_repeats_the_same_response(sidecar, client, mocker):
    stub, servicer, _, _, source, telemetry = sidecar
    first = await stub.GetMeteredEntitlement(metered_request())
    before = await mgets(client)
    answer = mocker.spy(CheckTypedEntitlement, "answer")
    answers = [await stub.GetMeteredEntitlement(metered_request()) for _ in range(4)]
    assert answer.spy_return[0] is UNCHANGED  # not evaluated nor built again
    assert all(a == first for a in answers) and first.entitlement.current_usage == 3
    assert await mgets(client) - before == 4  # one read per call, none skipped
    assert telemetry.cache_hits >= 5 and source.calls == []
    assert servicer.memo_size() == 1


async def test_a_change_written_by_another_sidecar_is_answered_at_once(sidecar):
    stub, _, writer, _, _, _ = sidecar
    await stub.GetMeteredEntitlement(metered_request())
    await stub.GetMeteredEntitlement(metered_request())
    await writer.set_usage(ACME, UsageTarget.FEATURE, "api-calls", Usage(10, None, epoch_ms(END), 7))
    answer = await stub.GetMeteredEntitlement(metered_request())
    assert answer.entitlement.current_usage == 10 and not answer.has_access
    await writer.put(entitlement_set(metered("api-calls", 50, 10, start="2025-07-01T00:00:00Z",
                                             end=END, reset=None), timestamp=9), None)
    answer = await stub.GetMeteredEntitlement(metered_request())
    assert answer.entitlement.usage_limit == 50 and answer.has_access


async def test_the_period_end_passing_rolls_over_although_redis_is_unchanged(sidecar):
    stub, _, _, clock, _, _ = sidecar
    before = [await stub.GetMeteredEntitlement(metered_request()) for _ in range(2)]
    clock.set(epoch_ms(END) + 1)
    after = await stub.GetMeteredEntitlement(metered_request())
    assert before[1].entitlement.current_usage == 3 and after.entitlement.current_usage == 0


async def test_state_and_different_requests_are_kept_apart(sidecar):
    stub, _, _, _, _, _ = sidecar
    one = await stub.GetMeteredEntitlement(metered_request(1))
    many = await stub.GetMeteredEntitlement(metered_request(8))
    again = await stub.GetMeteredEntitlement(metered_request(8))
    state = [await stub.GetEntitlementsStateV2(pb.GetEntitlementsStateV2Request(customer_id="acme"))
             for _ in range(2)]
    assert one.has_access and not many.has_access and again == many
    assert state[0] == state[1] and len(state[0].entitlements) == 1
