"""ReportEvents (upstream-api.md §5.3): validate, chunks of ≤ 1000, no cache effects."""
from __future__ import annotations

import pytest

from domain.model.budget import Budget
from domain.model.errors import InvalidRequestError
from domain.model.identifiers import CustomerKey
from domain.model.reports import Event
from domain.services.report_events import ReportEvents
from ports.errors import PartialWriteError, UpstreamRateLimitedError
from tests.fakes import FakeEventReporter
from tests.fakes.builders import ACME
from tests.unit.services.timeouts import WRITE_TIMEOUT_S


def event(name="login", *, key=ACME, idempotency_key=None, **fields) -> Event:
    return Event(event_name=name, key=key,
                 idempotency_key=idempotency_key if idempotency_key is not None else f"k-{name}",
                 **fields)


def events(count: int) -> list[Event]:
    return [event(f"e{i}") for i in range(count)]


@pytest.fixture
def reporter() -> FakeEventReporter:
    return FakeEventReporter()


@pytest.fixture
def report(reporter, write_context) -> ReportEvents:
    return ReportEvents(reporter, write_context)


@pytest.mark.parametrize(
    "count, sizes",
    [(0, []), (1, [1]), (1000, [1000]), (1001, [1000, 1]), (2500, [1000, 1000, 500])],
)
async def test_chunks_of_at_most_1000_in_order(report, reporter, count, sizes):
    await report.execute(events(count), None)
    assert [len(call) for call in reporter.calls] == sizes
    assert [e.event_name for e in reporter.sent] == [f"e{i}" for i in range(count)]


async def test_caller_keys_and_fields_are_sent_unchanged(report, reporter):
    sent = event("signup", key=CustomerKey("acme", "site-1"), idempotency_key="caller-key",
                 dimensions={"plan": "pro", "seats": 3.0, "trial": True}, timestamp_ms=1234)
    await report.execute([sent], None)
    assert reporter.sent == [sent]


@pytest.mark.parametrize(
    "bad, message",
    [(dict(name=""), "event_name must not be empty"),
     (dict(key=CustomerKey("")), "customer_id must not be empty"),
     (dict(idempotency_key=""), "idempotency_key must not be empty"),
     (dict(key=CustomerKey("acme", "r" * 1025)), "resource_id must be at most 1024 characters"),
     (dict(dimensions={"": 1.0}), "dimensions key must not be empty")],
    ids=["empty-event-name", "empty-customer", "empty-idempotency-key", "long-resource",
         "empty-dimension-key"],
)
async def test_validation_names_the_event_and_field_and_sends_nothing(report, reporter, bad,
                                                                       message):
    batch = events(2500)
    batch[1500] = event(**{"name": "e1500", **bad})
    with pytest.raises(InvalidRequestError) as caught:
        await report.execute(batch, None)
    assert str(caught.value) == f"events[1500].{message}"
    assert reporter.calls == []


async def test_event_over_1_mb_is_rejected_up_front(report, reporter):
    batch = events(3)
    batch[2] = event("huge", dimensions={"blob": "x" * 1_000_001})
    with pytest.raises(InvalidRequestError) as caught:
        await report.execute(batch, None)
    assert caught.value.field == "events[2]"
    assert reporter.calls == []


async def test_multibyte_characters_count_as_encoded_bytes(report, reporter):
    with pytest.raises(InvalidRequestError):
        await report.execute([event("huge", dimensions={"blob": "é" * 600_000})], None)
    assert reporter.calls == []


async def test_event_just_under_1_mb_is_sent(report, reporter):
    await report.execute([event("big", dimensions={"blob": "x" * 990_000})], None)
    assert len(reporter.calls) == 1


async def test_first_chunk_failure_raises_the_upstream_error(report, reporter):
    error = UpstreamRateLimitedError("429")
    reporter.fail_on_call(0, error)
    with pytest.raises(UpstreamRateLimitedError) as caught:
        await report.execute(events(10), None)
    assert caught.value is error


async def test_later_chunk_failure_is_a_partial_write(report, reporter):
    error = UpstreamRateLimitedError("rate limited")
    reporter.fail_on_call(1, error)
    with pytest.raises(PartialWriteError) as caught:
        await report.execute(events(2500), None)
    assert (caught.value.recorded, caught.value.total, caught.value.cause) == (1000, 2500, error)
    assert "1000 of 2500" in str(caught.value)
    assert [len(c) for c in reporter.calls] == [1000, 1000]


async def test_events_have_no_cache_effects(reporter, write_context, cache):
    await ReportEvents(reporter, write_context).execute(events(5), None)
    assert len(cache) == 0


@pytest.mark.parametrize(
    "deadline, expected",
    [(None, 1000.0 + WRITE_TIMEOUT_S), (Budget(1002.0), 1002.0)],
    ids=["configured", "caller-shorter"],
)
async def test_each_mutation_gets_the_write_budget(report, reporter, deadline, expected):
    await report.execute(events(1500), deadline)
    assert [b.deadline for b in reporter.budgets] == [pytest.approx(expected)] * 2
