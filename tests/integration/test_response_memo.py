"""The gRPC servicer's response memo, through a real server on 127.0.0.1:0 and the
generated stubs: reused responses are exactly what a fresh evaluation would answer."""
from __future__ import annotations

import asyncio

import grpc
import pytest

from adapters.inbound.grpc.response_memo import ResponseMemo
from adapters.inbound.grpc.server import GrpcServer
from adapters.inbound.grpc.servicer import SidecarServicer
from adapters.inbound.use_cases import UseCases
from adapters.outbound.memory_cache import MemoryEntitlementCache
from domain.model.entitlement import Usage
from domain.model.fallback import EMPTY_FALLBACK_TABLE
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


class Sidecar:
    def __init__(self, memo_entries: int = 4096) -> None:
        self.clock = FixedClock("2025-07-10T15:30:00Z")
        self.cache = MemoryEntitlementCache(64 * 1024 * 1024)
        self.source = FakeEntitlementSource()
        self.telemetry = RecordingTelemetry()
        loader = LoadEntitlements(self.cache, self.source, self.clock, self.telemetry)
        ctx = ReadContext(loader, EMPTY_FALLBACK_TABLE, self.clock, self.telemetry, 1.0)
        generic = CheckEntitlement(ctx)
        use_cases = UseCases(
            typed=CheckTypedEntitlement(ctx), generic=generic,
            v2=CheckEntitlementV2(ctx, generic, CheckCredit(ctx)), state=GetEntitlementsState(ctx),
            reload=None, usage=None, events=None)  # type: ignore[arg-type] - reads only
        self.rpcs: list[str] = []
        self.servicer = SidecarServicer(use_cases, self.clock, memo_entries=memo_entries,
                                        on_rpc=lambda rpc, code, s: self.rpcs.append(code))
        self.server = GrpcServer(self.servicer, "127.0.0.1", 0)


@pytest.fixture
async def sidecar():
    sidecar = Sidecar()
    sidecar.cache.set_live(True)
    sidecar.source.serve(entitlement_set(metered("api-calls", 10, 3, start="2025-07-01T00:00:00Z",
                                                 end=END, reset=None)))
    await sidecar.server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{sidecar.server.port}") as channel:
        sidecar.stub = sidecar_pb2_grpc.SidecarServiceStub(channel)
        yield sidecar
    await sidecar.server.stop(0.5)


def metered_request(requested: float = 1) -> pb.GetMeteredEntitlementRequest:
    return requests.metered_request("acme", "api-calls", requested)


async def test_repeated_hits_are_served_from_the_memo_and_still_counted(sidecar):
    first = await sidecar.stub.GetMeteredEntitlement(metered_request())  # live fetch
    hits = sidecar.telemetry.cache_hits
    answers = [await sidecar.stub.GetMeteredEntitlement(metered_request()) for _ in range(5)]
    assert all(a == first for a in answers)
    assert first.entitlement.current_usage == 3 and first.has_access
    assert sidecar.telemetry.cache_hits == hits + 5
    assert len(sidecar.source.calls) == 1
    assert sidecar.rpcs == ["OK"] * 6
    assert sidecar.servicer.memo_size() == 1


async def test_a_usage_update_is_seen_on_the_next_call(sidecar):
    await sidecar.stub.GetMeteredEntitlement(metered_request())
    await sidecar.stub.GetMeteredEntitlement(metered_request())
    await sidecar.cache.set_usage(ACME, UsageTarget.FEATURE, "api-calls",
                                  Usage(10, None, epoch_ms(END), 7))
    answer = await sidecar.stub.GetMeteredEntitlement(metered_request())
    assert answer.entitlement.current_usage == 10 and not answer.has_access


async def test_the_period_end_passing_rolls_usage_over_although_the_set_is_unchanged(sidecar):
    await sidecar.stub.GetMeteredEntitlement(metered_request())
    before = await sidecar.stub.GetMeteredEntitlement(metered_request())
    sidecar.clock.set(epoch_ms(END) + 1)
    after = await sidecar.stub.GetMeteredEntitlement(metered_request())
    assert before.entitlement.current_usage == 3
    assert after.entitlement.current_usage == 0


async def test_lost_trust_sends_the_next_call_to_the_upstream(sidecar):
    await sidecar.stub.GetMeteredEntitlement(metered_request())
    await sidecar.stub.GetMeteredEntitlement(metered_request())
    sidecar.cache.set_live(False)
    await sidecar.stub.GetMeteredEntitlement(metered_request())
    assert len(sidecar.source.calls) == 2


async def test_different_requests_and_rpcs_do_not_share_entries(sidecar):
    one = await sidecar.stub.GetMeteredEntitlement(metered_request(1))
    many = await sidecar.stub.GetMeteredEntitlement(metered_request(8))
    state = await sidecar.stub.GetEntitlementsStateV2(pb.GetEntitlementsStateV2Request(customer_id="acme"))
    state_again = await sidecar.stub.GetEntitlementsStateV2(
        pb.GetEntitlementsStateV2Request(customer_id="acme"))
    assert one.has_access and not many.has_access
    assert state == state_again and len(state.entitlements) == 1


def test_the_memo_is_bounded_and_drops_stale_entries():
    current = {"yes": True}
    memo = ResponseMemo(lambda freshness: current[freshness], max_entries=2)
    for raw in (b"a", b"b", b"c"):
        memo.store(raw, "yes", raw.upper())
    assert memo.lookup(b"a") is None and memo.lookup(b"c") == b"C"
    memo.store(b"d", None, b"D")  # no freshness: not stored
    assert memo.lookup(b"d") is None
    current["yes"] = False
    assert memo.lookup(b"c") is None and len(memo) == 1
    off = ResponseMemo(lambda freshness: True, max_entries=0)
    off.store(b"a", "yes", b"A")
    assert len(off) == 0 and off.lookup(b"a") is None


def test_a_memo_of_a_cache_that_must_be_read_never_answers_before_the_read():
    memo = ResponseMemo(lambda freshness: True, peekable=False)
    memo.store(b"a", "first", b"A")
    assert memo.lookup(b"a") is None  # Redis: every call reads first
    assert memo.stored(b"a")[:3] == ("first", b"A", None) and memo.stored(b"b") is None


def padded_request(pad: int, tag: int = 1000) -> bytes:
    """A metered request with an unknown length-delimited field of ``pad`` bytes."""
    field = bytes([(tag << 3 | 2) & 0x7F | 0x80, tag >> 4]) + _varint(pad) + b"x" * pad
    return metered_request().SerializeToString() + field


def _varint(value: int) -> bytes:
    out = b""
    while True:
        byte, value = value & 0x7F, value >> 7
        out += bytes([byte | (0x80 if value else 0)])
        if not value:
            return out


async def test_requests_padded_with_unknown_fields_are_answered_but_never_kept(sidecar):
    await sidecar.stub.GetMeteredEntitlement(metered_request())  # live fetch
    plain = await sidecar.stub.GetMeteredEntitlement(metered_request())  # hit: kept
    padded = [pb.GetMeteredEntitlementRequest.FromString(padded_request(100_000 + i))
              for i in range(5)]  # unknown fields are kept and sent again
    assert all(len(p.SerializeToString()) > 100_000 for p in padded)
    answers = [await sidecar.stub.GetMeteredEntitlement(p) for p in padded]
    assert all(a == plain for a in answers)
    assert sidecar.servicer.memo_size() == 1  # only the plain request is memoized


def test_the_memo_is_bounded_by_bytes_too():
    memo = ResponseMemo(lambda freshness: True, max_entries=100, max_bytes=10)
    for raw in (b"aaaa", b"bbbb", b"cccc"):
        memo.store(raw, "yes", raw[:1])  # 4 request bytes + 1 response byte each
    assert memo.lookup(b"aaaa") is None and memo.lookup(b"cccc") == b"c"
    assert len(memo) == 2 and memo.size_bytes == 10
    memo.store(b"x" * 10, "yes", b"X")  # larger than the whole bound: not kept
    assert memo.stored(b"x" * 10) is None and memo.size_bytes == 10
    memo.store(b"cccc", "yes", b"C")  # replacing an entry does not double-count
    assert memo.size_bytes == 10 and memo.lookup(b"cccc") == b"C"


async def test_a_call_the_client_cancels_is_recorded_as_cancelled(sidecar):
    gate = sidecar.source.hold()
    call = sidecar.stub.GetMeteredEntitlement(metered_request())
    await sidecar.source.started.wait()
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    for _ in range(100):
        if sidecar.rpcs:
            break
        await asyncio.sleep(0.01)
    gate.set()
    assert sidecar.rpcs == ["CANCELLED"]
