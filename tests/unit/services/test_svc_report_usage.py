"""ReportUsage / ReportUsageBulk (upstream-api.md §5.1, §5.2, §8) with the real cache."""
from __future__ import annotations

import math

import pytest

from domain.model.budget import Budget
from domain.model.decide import FeatureQuery
from domain.model.errors import InvalidRequestError
from domain.model.identifiers import CustomerKey
from domain.model.kinds import FeatureKind as K
from domain.model.kinds import UsageUpdateBehavior
from domain.model.reports import CreditAck, UsageAck, UsageReport
from domain.services.check_entitlement import CheckTypedEntitlement
from domain.services.report_usage import ReportUsage
from adapters.outbound.memory_cache import MemoryEntitlementCache
from ports.errors import CacheUnavailableError, PartialWriteError, UpstreamUnavailableError
from tests.fakes import FakeUsageReporter, epoch_ms as ms
from tests.fakes.builders import ACME, credit, entitlement_set, metered
from tests.unit.services.timeouts import WRITE_TIMEOUT_S


def item(feature_id="api-calls", value=5.0, *, key=ACME, **fields) -> UsageReport:
    return UsageReport(key=key, feature_id=feature_id, value=value, idempotency_key="", **fields)


def items(count: int) -> list[UsageReport]:
    return [item(f"f{i}", float(i)) for i in range(count)]


@pytest.fixture
def reporter() -> FakeUsageReporter:
    return FakeUsageReporter()


@pytest.fixture
def report(reporter, cache, write_context) -> ReportUsage:
    return ReportUsage(reporter, cache, write_context)


def answering(**ack_fields):
    """A reporter answering every item with the given ack fields."""
    def respond(sent: UsageReport, index: int) -> UsageAck:
        return UsageAck(measurement_id=f"m-{index}", key=sent.key, feature_id=sent.feature_id,
                        **ack_fields)

    return FakeUsageReporter(respond)


V15_ACK = dict(current_usage=47, usage_period_start_ms=ms("2025-07-01T00:00:00Z"),
               usage_period_end_ms=ms("2025-08-01T00:00:00Z"),
               timestamp_ms=ms("2025-07-10T15:29:59Z"))


async def cached_api_calls(cache, *, key=ACME, live=False):
    if live:
        cache.set_live(True)
    await cache.apply_update(entitlement_set(
        metered("api-calls", 100, 40, updated_at="2025-07-10T15:00:00Z"), credit("cred", 100, 10),
        key=key))


# --- sending -------------------------------------------------------------------------------------

async def test_single_report_is_sent_with_a_fresh_key(report, reporter):
    sent_item = item(update_behavior=UsageUpdateBehavior.DELTA)
    acks = await report.execute([sent_item], None)
    (sent,) = reporter.sent
    assert (sent.key, sent.feature_id, sent.value, sent.update_behavior) == (
        ACME, "api-calls", 5.0, UsageUpdateBehavior.DELTA)
    assert sent.idempotency_key != ""
    assert [a.measurement_id for a in acks] == ["m-0"]


@pytest.mark.parametrize(
    "count, sizes",
    [(0, []), (1, [1]), (99, [99]), (100, [100]), (101, [100, 1]), (250, [100, 100, 50]),
     (300, [100, 100, 100])],
)
async def test_chunks_of_at_most_100_in_order(report, reporter, count, sizes):
    acks = await report.execute(items(count), None, field_prefix="usages")
    assert [len(call) for call in reporter.calls] == sizes
    assert [s.feature_id for s in reporter.sent] == [f"f{i}" for i in range(count)]
    assert [a.feature_id for a in acks] == [f"f{i}" for i in range(count)]


async def test_each_item_gets_a_distinct_non_empty_key(report, reporter):
    await report.execute(items(250), None, field_prefix="usages")
    first = [s.idempotency_key for s in reporter.sent]
    assert all(first) and len(set(first)) == 250
    await report.execute(items(250), None, field_prefix="usages")
    second = [s.idempotency_key for s in reporter.sent[250:]]
    assert not set(first) & set(second)


async def test_keys_come_from_the_injected_generator(reporter, cache, write_context):
    counter = iter(range(1000))
    report = ReportUsage(reporter, cache, write_context, new_key=lambda: f"k{next(counter)}")
    await report.execute(items(3), None, field_prefix="usages")
    assert [s.idempotency_key for s in reporter.sent] == ["k0", "k1", "k2"]


@pytest.mark.parametrize("value", [-5.0, 0.0, 1e12], ids=["negative", "zero", "large"])
async def test_any_finite_value_is_sent(report, reporter, value):
    await report.execute([item(value=value)], None)
    assert reporter.sent[0].value == value


@pytest.mark.parametrize(
    "deadline, expected",
    [(None, 1000.0 + WRITE_TIMEOUT_S), (Budget(1001.0), 1001.0)],
    ids=["configured", "caller-shorter"],
)
async def test_each_mutation_gets_the_write_budget(report, reporter, deadline, expected):
    await report.execute(items(150), deadline, field_prefix="usages")
    assert [b.deadline for b in reporter.budgets] == [pytest.approx(expected)] * 2


# --- validation -------------------------------------------------------------------------------------

BAD_ITEMS = [
    (dict(feature_id=""), "feature_id must not be empty"),
    (dict(key=CustomerKey("")), "customer_id must not be empty"),
    (dict(key=CustomerKey("acme", "r" * 1025)), "resource_id must be at most 1024 characters"),
    (dict(feature_id="f" * 1025), "feature_id must be at most 1024 characters"),
    (dict(value=math.nan), "value must be a finite number"),
    (dict(value=math.inf), "value must be a finite number"),
    (dict(value=-math.inf), "value must be a finite number"),
    (dict(dimensions={"": "x"}), "dimensions key must not be empty"),
    (dict(dimensions={f"d{i}": i for i in range(101)}), "dimensions must have at most 100 entries"),
]
BAD_IDS = ["empty-feature", "empty-customer", "long-resource", "long-feature", "nan", "inf",
           "minus-inf", "empty-dimension-key", "too-many-dimensions"]


@pytest.mark.parametrize("bad, message", BAD_ITEMS, ids=BAD_IDS)
async def test_bulk_validation_names_the_item_and_field(report, reporter, bad, message):
    batch = items(250)
    batch[3] = item(**{"feature_id": "f3", **bad})
    with pytest.raises(InvalidRequestError) as caught:
        await report.execute(batch, None, field_prefix="usages")
    assert str(caught.value) == f"usages[3].{message}"
    assert reporter.calls == []


@pytest.mark.parametrize("bad, message", BAD_ITEMS, ids=BAD_IDS)
async def test_single_validation_names_the_field(report, reporter, bad, message):
    with pytest.raises(InvalidRequestError) as caught:
        await report.execute([item(**bad)], None)
    assert str(caught.value) == message
    assert reporter.calls == []


async def test_invalid_item_in_a_later_chunk_sends_nothing(report, reporter):
    batch = items(250)
    batch[201] = item("")
    with pytest.raises(InvalidRequestError, match=r"^usages\[201\]\.feature_id must not be empty$"):
        await report.execute(batch, None, field_prefix="usages")
    assert reporter.calls == []


async def test_first_invalid_item_is_reported(report):
    batch = items(10)
    batch[7] = item("", value=math.nan)
    batch[4] = item("f4", value=math.nan)
    with pytest.raises(InvalidRequestError, match=r"^usages\[4\]\.value"):
        await report.execute(batch, None, field_prefix="usages")


# --- cache effects (§8) -----------------------------------------------------------------------------

async def test_v15_ack_sets_cached_usage_from_the_server(cache, write_context, read_context,
                                                         source):
    await cached_api_calls(cache, live=True)
    reporter = answering(**V15_ACK)
    acks = await ReportUsage(reporter, cache, write_context).execute([item()], None)
    assert acks[0].current_usage == 47
    entry = await cache.get(ACME)
    assert entry.trusted is True
    usage = entry.entitlements.feature("api-calls").usage
    assert (usage.current_usage, usage.period_start_ms, usage.period_end_ms, usage.updated_at_ms) == (
        47, ms("2025-07-01T00:00:00Z"), ms("2025-08-01T00:00:00Z"), ms("2025-07-10T15:29:59Z"))
    answer = await CheckTypedEntitlement(read_context).execute(
        K.METERED, ACME, FeatureQuery("api-calls"), None)
    assert answer.data.usage.current_usage == 47 and source.calls == []


async def test_null_current_usage_leaves_the_cache_unchanged(cache, write_context):
    await cached_api_calls(cache)
    await ReportUsage(answering(current_usage=None), cache, write_context).execute([item()], None)
    assert (await cache.get(ACME)).entitlements.feature("api-calls").usage.current_usage == 40


async def test_ack_for_an_uncached_customer_creates_nothing(cache, write_context):
    reporter = answering(**V15_ACK, credit=CreditAck("cred", 3, None, 1))
    await ReportUsage(reporter, cache, write_context).execute([item()], None)
    assert await cache.get(ACME) is None and len(cache) == 0


async def test_ack_for_an_uncached_feature_changes_nothing(cache, write_context):
    await cached_api_calls(cache)
    before = (await cache.get(ACME)).entitlements
    await ReportUsage(answering(**V15_ACK), cache, write_context).execute([item("other")], None)
    after = (await cache.get(ACME)).entitlements
    assert after.feature("other") is None and after.features == before.features


async def test_ack_for_an_untrusted_entry_updates_it_but_does_not_trust_it(cache, write_context):
    await cached_api_calls(cache)
    await ReportUsage(answering(**V15_ACK), cache, write_context).execute([item()], None)
    entry = await cache.get(ACME)
    assert entry.trusted is False
    assert entry.entitlements.feature("api-calls").usage.current_usage == 47


async def test_ack_without_timestamp_is_stamped_now(cache, write_context, clock):
    await cached_api_calls(cache)
    await ReportUsage(answering(current_usage=41), cache, write_context).execute([item()], None)
    usage = (await cache.get(ACME)).entitlements.feature("api-calls").usage
    assert usage.updated_at_ms == clock.now_ms() and usage.period_start_ms is None


async def test_ack_older_than_cached_usage_is_skipped(cache, write_context):
    await cached_api_calls(cache)
    stale = answering(current_usage=41, timestamp_ms=ms("2025-07-10T14:00:00Z"))
    await ReportUsage(stale, cache, write_context).execute([item()], None)
    assert (await cache.get(ACME)).entitlements.feature("api-calls").usage.current_usage == 40


async def test_ack_goes_to_the_entry_named_by_the_response(cache, write_context):
    resource = CustomerKey("acme", "site-1")
    await cached_api_calls(cache)
    await cached_api_calls(cache, key=resource)
    await ReportUsage(answering(**V15_ACK), cache, write_context).execute(
        [item(key=resource)], None)
    assert (await cache.get(resource)).entitlements.feature("api-calls").usage.current_usage == 47
    assert (await cache.get(ACME)).entitlements.feature("api-calls").usage.current_usage == 40


@pytest.mark.parametrize("feature_usage", [47, None], ids=["with-feature-usage",
                                                           "without-feature-usage"])
async def test_credit_ack_sets_the_wallet_usage(cache, write_context, feature_usage):
    await cached_api_calls(cache)
    wallet_ack = CreditAck("cred", 64, ms("2025-08-01T00:00:00Z"), ms("2025-07-10T15:29:59Z"))
    reporter = answering(current_usage=feature_usage, credit=wallet_ack)
    await ReportUsage(reporter, cache, write_context).execute([item()], None)
    stored = (await cache.get(ACME)).entitlements
    wallet = stored.credit("cred").usage
    assert (wallet.current_usage, wallet.period_start_ms, wallet.period_end_ms,
            wallet.updated_at_ms) == (64, None, ms("2025-08-01T00:00:00Z"),
                                      ms("2025-07-10T15:29:59Z"))
    expected_feature = 40 if feature_usage is None else feature_usage
    assert stored.feature("api-calls").usage.current_usage == expected_feature


async def test_acks_are_applied_in_order(cache, write_context):
    await cached_api_calls(cache)

    def respond(sent, index):
        return UsageAck(f"m-{index}", sent.key, sent.feature_id, current_usage=sent.value,
                        timestamp_ms=ms("2025-07-10T15:29:00Z"))

    batch = [item(value=float(v)) for v in (41, 42, 43)]
    await ReportUsage(FakeUsageReporter(respond), cache, write_context).execute(
        batch, None, field_prefix="usages")
    assert (await cache.get(ACME)).entitlements.feature("api-calls").usage.current_usage == 43


# --- failures ---------------------------------------------------------------------------------------

async def test_first_chunk_failure_raises_the_upstream_error(report, reporter, cache):
    await cached_api_calls(cache)
    error = UpstreamUnavailableError("connection refused")
    reporter.fail_on_call(0, error)
    with pytest.raises(UpstreamUnavailableError) as caught:
        await report.execute([item()], None)
    assert caught.value is error
    assert (await cache.get(ACME)).entitlements.feature("api-calls").usage.current_usage == 40


async def test_later_chunk_failure_is_a_partial_write(cache, write_context):
    await cached_api_calls(cache)
    error = UpstreamUnavailableError("upstream 503")

    def respond(sent, index):
        return UsageAck(f"m-{index}", sent.key, sent.feature_id, current_usage=float(index),
                        timestamp_ms=ms("2025-07-10T15:29:00Z") + index)

    reporter = FakeUsageReporter(respond)
    reporter.fail_on_call(2, error)
    batch = [item(value=1.0) for _ in range(250)]
    with pytest.raises(PartialWriteError) as caught:
        await ReportUsage(reporter, cache, write_context).execute(batch, None,
                                                                  field_prefix="usages")
    failure = caught.value
    assert (failure.recorded, failure.total, failure.cause) == (200, 250, error)
    assert "200 of 250" in str(failure) and "upstream 503" in str(failure)
    assert [len(c) for c in reporter.calls] == [100, 100, 50]
    assert (await cache.get(ACME)).entitlements.feature("api-calls").usage.current_usage == 199


class UnreachableCache(MemoryEntitlementCache):
    async def set_usage(self, key, target, ref_id, usage):
        raise CacheUnavailableError("cache down")


async def test_cache_failure_after_the_write_still_returns_the_acks(write_context):
    reporter = answering(**V15_ACK, credit=CreditAck("cred", 3, None, 1))
    report = ReportUsage(reporter, UnreachableCache(max_bytes=1 << 20), write_context)
    acks = await report.execute(items(150), None, field_prefix="usages")
    assert len(acks) == 150 and len(reporter.calls) == 2
