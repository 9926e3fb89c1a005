"""Usage buffering (USAGE_BUFFERING=true) with fakes and the real memory cache:
ReportUsage → BufferUsage when the upstream is unreachable, local answers and their
cache effect, per-feature order, and the usage sender (DeliverUsage)."""
from __future__ import annotations

import asyncio

import pytest

from adapters.outbound.outbox_items import USAGE_CODEC
from domain.model.errors import InvalidRequestError
from domain.model.identifiers import CustomerKey
from domain.model.kinds import ResetPeriod, UsageUpdateBehavior
from domain.model.reports import UsageAck, UsageReport
from domain.services.buffer_usage import BufferUsage, local_measurement_id
from domain.services.deliver_events import RetryPolicy
from domain.services.deliver_usage import DeliverUsage
from domain.services.report_usage import ReportUsage
from ports.errors import (
    PartialWriteError,
    UpstreamAuthError,
    UpstreamInvalidInputError,
    UpstreamNotFoundError,
    UpstreamRateLimitedError,
    UpstreamUnavailableError,
)
from ports.event_outbox import OutboxFullError
from tests.fakes import FakeUsageReporter
from tests.fakes import epoch_ms as ms
from tests.fakes.builders import ACME, entitlement_set, metered
from tests.fakes.outbox import InMemoryOutbox

NOW = ms("2025-07-10T15:30:00Z")
DELTA, SET = UsageUpdateBehavior.DELTA, UsageUpdateBehavior.SET


def item(feature_id="api-calls", value=5.0, *, key=ACME, **fields) -> UsageReport:
    return UsageReport(key=key, feature_id=feature_id, value=value, idempotency_key="", **fields)


class Keys:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return f"key-{self.n}"


def upstream_ack(current: float):
    def respond(sent: UsageReport, index: int) -> UsageAck:
        return UsageAck(measurement_id=f"m-{index}", key=sent.key, feature_id=sent.feature_id,
                        current_usage=current, timestamp_ms=NOW + 60_000)

    return respond


@pytest.fixture
def outbox(clock) -> InMemoryOutbox:
    return InMemoryOutbox(clock)


@pytest.fixture
def reporter() -> FakeUsageReporter:
    return FakeUsageReporter(upstream_ack(47.0))


@pytest.fixture
def buffer(outbox, cache, clock) -> BufferUsage:
    return BufferUsage(outbox, cache, clock)


@pytest.fixture
def report(reporter, cache, write_context, buffer) -> ReportUsage:
    return ReportUsage(reporter, cache, write_context, new_key=Keys(), buffer=buffer)


async def cache_api_calls(cache, current=40.0, **fields):
    await cache.apply_update(entitlement_set(metered(
        "api-calls", 100, current, start="2025-07-01T00:00:00Z", end="2025-08-01T00:00:00Z",
        updated_at="2025-07-10T15:00:00Z", **fields)))


async def cached_usage(cache, key=ACME, feature_id="api-calls"):
    entry = await cache.get(key)
    return entry.entitlements.feature(feature_id).usage


def down(reporter, *calls: int) -> None:
    for call in calls or (0,):
        reporter.fail_on_call(call, UpstreamUnavailableError("connection refused"))


# --- buffering on an unreachable upstream -------------------------------------------------

async def test_unreachable_upstream_buffers_a_delta_and_answers_from_the_cached_usage(
        report, reporter, outbox, cache):
    await cache_api_calls(cache)
    down(reporter)
    (ack,) = await report.execute([item(value=5.0, update_behavior=DELTA)], None)
    assert ack.measurement_id == "local-key-1" == local_measurement_id("key-1")
    assert ack.current_usage == 45.0
    assert (ack.usage_period_start_ms, ack.usage_period_end_ms) == (
        ms("2025-07-01T00:00:00Z"), ms("2025-08-01T00:00:00Z"))
    (queued,) = outbox.items
    assert (queued.idempotency_key, queued.value, queued.update_behavior) == ("key-1", 5.0, DELTA)
    assert reporter.sent[0].idempotency_key == "key-1"  # the key of the failed attempt
    usage = await cached_usage(cache)
    assert (usage.current_usage, usage.updated_at_ms) == (45.0, NOW)


async def test_a_buffered_item_without_timestamp_gets_the_acceptance_time(report, reporter, outbox, clock):
    down(reporter)
    await report.execute([item(), item(timestamp_ms=1234)], None)
    assert [i.timestamp_ms for i in outbox.items] == [NOW, 1234]


async def test_acceptance_time_is_taken_before_the_upstream_attempts(cache, write_context, outbox, clock):
    class SlowDown(FakeUsageReporter):
        async def report(self, items, budget):
            clock.advance(30_000)  # the attempts used the whole budget
            raise UpstreamUnavailableError("timed out")

    buffer = BufferUsage(outbox, cache, clock)
    await ReportUsage(SlowDown(), cache, write_context, buffer=buffer).execute([item()], None)
    assert outbox.items[0].timestamp_ms == NOW


async def test_not_cached_delta_leaves_current_usage_unset_and_set_answers_its_value(
        report, reporter, cache):
    down(reporter)
    delta, set_ = await report.execute([item("api-calls", 5.0), item("seats", 7.0, update_behavior=SET)],
                                       None)
    assert delta.current_usage is None and delta.usage_period_end_ms is None
    assert set_.current_usage == 7.0 and set_.usage_period_end_ms is None
    assert await cache.get(ACME) is None  # never creates an entry


async def test_set_on_a_cached_feature_replaces_the_local_usage(report, reporter, cache):
    await cache_api_calls(cache)
    down(reporter)
    (ack,) = await report.execute([item(value=3.0, update_behavior=SET)], None)
    assert ack.current_usage == 3.0
    assert (await cached_usage(cache)).current_usage == 3.0


async def test_local_delta_starts_from_zero_when_the_cached_period_has_rolled_over(
        report, reporter, cache):
    await cache.apply_update(entitlement_set(metered(
        "api-calls", 100, 90, start="2025-06-01T00:00:00Z", end="2025-07-01T00:00:00Z",
        reset=ResetPeriod.MONTH, anchor="2025-01-01T00:00:00Z")))
    down(reporter)
    (ack,) = await report.execute([item(value=5.0)], None)
    assert ack.current_usage == 5.0
    assert (ack.usage_period_start_ms, ack.usage_period_end_ms) == (
        ms("2025-07-01T00:00:00Z"), ms("2025-08-01T00:00:00Z"))


async def test_successive_buffered_deltas_build_on_each_other(report, reporter, cache):
    await cache_api_calls(cache)
    down(reporter)
    first = await report.execute([item(value=5.0)], None)
    second = await report.execute([item(value=2.0), item(value=1.0)], None)
    assert [a.current_usage for a in first + second] == [45.0, 47.0, 48.0]
    assert len(reporter.calls) == 1  # later reports of a queued feature wait behind it


@pytest.mark.parametrize("error", [
    UpstreamInvalidInputError("bad", code="BadUserInput"),
    UpstreamNotFoundError("no such feature", code="FeatureNotFound"),
    UpstreamAuthError("key rejected"),
    UpstreamRateLimitedError("slow down"),
], ids=["invalid", "not-found", "auth", "rate-limited"])
async def test_other_upstream_errors_are_raised_and_never_buffered(report, reporter, outbox, error):
    reporter.fail_on_call(0, error)
    with pytest.raises(type(error)):
        await report.execute([item()], None)
    assert outbox.items == []


async def test_invalid_input_is_refused_before_anything_is_sent_or_buffered(report, reporter, outbox):
    down(reporter)
    with pytest.raises(InvalidRequestError):
        await report.execute([item(), item(feature_id="")], None, field_prefix="usages")
    assert (reporter.calls, outbox.items) == ([], [])


async def test_without_buffer_an_unreachable_upstream_is_an_error_as_before(reporter, cache, write_context):
    down(reporter)
    with pytest.raises(UpstreamUnavailableError):
        await ReportUsage(reporter, cache, write_context).execute([item()], None)


# --- bulk: whole chunks, order --------------------------------------------------------------

async def test_bulk_chunks_after_the_first_unreachable_one_are_buffered_whole_and_in_order(
        report, reporter, outbox):
    down(reporter, 1)
    batch = [item(f"f{i}", float(i)) for i in range(250)]
    acks = await report.execute(batch, None, field_prefix="usages")
    assert [len(c) for c in reporter.calls] == [100, 100]  # chunk 3 not even tried
    assert [a.feature_id for a in acks] == [f"f{i}" for i in range(250)]
    assert all(a.measurement_id.startswith("m-") for a in acks[:100])
    assert all(a.measurement_id.startswith("local-") for a in acks[100:])
    assert [i.feature_id for i in outbox.items] == [f"f{i}" for i in range(100, 250)]
    assert [i.idempotency_key for i in outbox.items] == [c.idempotency_key for c in reporter.calls[1]] + [
        f"key-{n}" for n in range(201, 251)]


async def test_a_chunk_touching_a_queued_feature_is_buffered_and_others_go_direct(
        report, reporter, outbox):
    down(reporter)
    await report.execute([item("api-calls")], None)
    (direct,) = await report.execute([item("seats")], None)
    assert direct.measurement_id.startswith("m-")
    (held,) = await report.execute([item("api-calls")], None)
    assert held.measurement_id.startswith("local-")
    other_resource = await report.execute([item("api-calls", key=CustomerKey("acme", "site-1"))], None)
    assert other_resource[0].measurement_id.startswith("m-")
    assert [i.feature_id for i in outbox.items] == ["api-calls", "api-calls"]


async def test_full_outbox_refuses_the_first_chunk_and_reports_partial_later(
        reporter, cache, write_context, clock):
    tiny = InMemoryOutbox(clock, max_bytes=10)
    report = ReportUsage(reporter, cache, write_context, buffer=BufferUsage(tiny, cache, clock))
    down(reporter, 0)
    with pytest.raises(OutboxFullError, match="usage outbox is full"):
        await report.execute([item()], None)
    down(reporter, 2)
    with pytest.raises(PartialWriteError) as caught:
        await report.execute([item(f"f{i}") for i in range(150)], None, field_prefix="usages")
    assert (caught.value.recorded, caught.value.total) == (100, 150)
    assert isinstance(caught.value.cause, OutboxFullError)
    assert tiny.items == []


# --- the usage sender -------------------------------------------------------------------------

class Sleeps:
    def __init__(self, clock) -> None:
        self.clock, self.pauses = clock, []

    async def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.clock.advance(int(seconds * 1000))
        await asyncio.sleep(0)


@pytest.fixture
def make_deliver(outbox, reporter, cache, write_context, buffer, clock):
    def make(**options) -> DeliverUsage:
        options = {"sleep": Sleeps(clock), "random": lambda: 1.0, "idle_s": 0.01,
                   "retry": RetryPolicy(0.01, 0.05)} | options
        return DeliverUsage(outbox, reporter, cache, write_context, buffer=buffer, **options)

    return make


async def test_sender_delivers_with_the_same_keys_and_sets_the_cache_from_the_ack(
        report, reporter, outbox, cache, make_deliver, buffer):
    await cache_api_calls(cache)
    down(reporter)
    await report.execute([item(value=5.0)], None)
    assert (await cached_usage(cache)).current_usage == 45.0
    deliver = make_deliver()
    assert await deliver.deliver_batch(None) == 1
    assert [i.idempotency_key for i in reporter.calls[1]] == ["key-1"]
    assert reporter.calls[1][0].timestamp_ms == NOW
    usage = await cached_usage(cache)
    assert (usage.current_usage, usage.updated_at_ms) == (47.0, NOW + 60_000)  # upstream's number
    assert (outbox.items, deliver.deliveries) == ([], 1)
    assert not buffer.holds_any([item()])  # later reports go direct again
    (direct,) = await report.execute([item()], None)
    assert direct.measurement_id.startswith("m-")


async def test_sender_retries_an_unreachable_upstream_then_delivers_oldest_first_in_chunks_of_100(
        report, reporter, outbox, make_deliver):
    down(reporter)
    await report.execute([item(f"f{i}") for i in range(150)], None)
    down(reporter, 1, 2)
    deliver = make_deliver()
    task = asyncio.create_task(deliver.run())
    for _ in range(2000):
        if not outbox.items:
            break
        await asyncio.sleep(0.001)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert outbox.items == []
    assert (deliver.deliveries, deliver.retries) == (150, 2)
    delivered = [c for c in reporter.calls[3:]]
    assert [len(c) for c in delivered] == [100, 50]
    assert [i.feature_id for c in delivered for i in c] == [f"f{i}" for i in range(150)]


async def test_sender_drops_and_counts_a_refused_item_and_delivers_the_rest(
        report, reporter, outbox, make_deliver, buffer, caplog):
    down(reporter)
    await report.execute([item("good-1"), item("bad"), item("good-2")], None)

    class Refusing(FakeUsageReporter):
        async def report(self, items, budget):
            await super().report(items, budget)
            if any(i.feature_id == "bad" for i in items):
                raise UpstreamInvalidInputError("bad input", code="BadUserInput")
            return [UsageAck(f"m-{i.feature_id}", i.key, i.feature_id) for i in items]

    refusing = Refusing()
    deliver = DeliverUsage(outbox, refusing, buffer._cache, make_deliver()._ctx, buffer=buffer)
    with caplog.at_level("ERROR", logger="sidecar.outbox"):
        assert await deliver.deliver_batch(None) == 3
    assert (deliver.deliveries, deliver.rejections, outbox.items) == (2, 1, [])
    (record,) = [r for r in caplog.records if "refused" in r.getMessage()]
    assert record.getMessage() == "upstream refused a buffered usage report; dropped"
    assert (record.feature_id, record.idempotency_key) == ("bad", "key-2")
    assert not buffer.holds_any([item("bad")])


async def test_items_recovered_from_a_previous_run_hold_every_report_back_until_delivered(
        outbox, cache, clock, reporter, write_context):
    await outbox.append([UsageReport(ACME, "old", 1.0, "old-key", timestamp_ms=NOW - 1000)])
    buffer = BufferUsage(outbox, cache, clock)
    report = ReportUsage(reporter, cache, write_context, buffer=buffer)
    deliver = DeliverUsage(outbox, reporter, cache, write_context, buffer=buffer)
    (held,) = await report.execute([item("unrelated")], None)
    assert held.measurement_id.startswith("local-") and reporter.calls == []
    await deliver.deliver_batch(None)  # the old item and the held one, in that order
    assert [i.idempotency_key for i in reporter.calls[0]][0] == "old-key"
    (direct,) = await report.execute([item("unrelated")], None)
    assert direct.measurement_id.startswith("m-")


async def test_flush_delivers_what_is_buffered_before_the_deadline(report, reporter, outbox, make_deliver,
                                                                   clock):
    from domain.model.budget import Budget
    down(reporter)
    await report.execute([item()], None)
    left = await make_deliver().flush(Budget.starting(clock.monotonic(), 5.0))
    assert left == 0 and outbox.items == []


# --- the codec ----------------------------------------------------------------------------------

def test_usage_codec_round_trips_every_field():
    full = UsageReport(CustomerKey("acme", "site-1"), "api-calls", -2.5, "k-1", SET,
                       {"region": "eu", "n": 3.0, "b": True}, 1752161399000)
    bare = UsageReport(ACME, "api-calls", 5.0, "k-2")
    for report in (full, bare):
        assert USAGE_CODEC.decode(USAGE_CODEC.encode(report)) == report
    assert set(USAGE_CODEC.encode(bare)) == {"c", "f", "v", "k"}


@pytest.mark.parametrize("body", [
    {}, {"c": "acme", "f": "x", "k": "k"}, {"c": "acme", "f": "x", "k": "k", "v": "1"},
    {"c": "acme", "f": "x", "k": "k", "v": True}, {"c": "acme", "f": "x", "k": "k", "v": 1, "b": "ADD"},
    {"c": "acme", "f": "x", "k": "k", "v": 1, "t": 1.5}, {"c": 1, "f": "x", "k": "k", "v": 1},
    {"c": "acme", "f": "x", "k": "k", "v": float("nan")},
])
def test_usage_codec_answers_none_for_a_damaged_record(body):
    assert USAGE_CODEC.decode(body) is None
