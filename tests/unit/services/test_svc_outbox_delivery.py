"""QueueEvents and DeliverEvents with fakes: validate-then-queue, the sender's batches,
acknowledgements, backoff, refused events and the shutdown flush."""
from __future__ import annotations

import asyncio
from typing import Sequence

import pytest

from domain.model.budget import Budget
from domain.model.errors import InvalidRequestError
from domain.model.identifiers import CustomerKey
from domain.model.reports import Event
from domain.services.deliver_events import DeliverEvents, RetryPolicy
from domain.services.queue_events import QueueEvents
from ports.errors import (
    UpstreamAuthError,
    UpstreamInvalidInputError,
    UpstreamNotFoundError,
    UpstreamRateLimitedError,
    UpstreamRejectedError,
    UpstreamUnavailableError,
)
from ports.event_outbox import EventOutbox, OutboxFullError
from tests.fakes import FakeEventReporter
from tests.fakes.builders import ACME
from tests.fakes.outbox import InMemoryEventOutbox, stored_size
from tests.unit.services.timeouts import WRITE_TIMEOUT_S


def event(name="login", *, key=ACME, idempotency_key=None, **fields) -> Event:
    return Event(event_name=name, key=key,
                 idempotency_key=idempotency_key if idempotency_key is not None else f"k-{name}",
                 **fields)


def events(count: int, prefix: str = "e") -> list[Event]:
    return [event(f"{prefix}{i}") for i in range(count)]


@pytest.fixture
def outbox(clock) -> InMemoryEventOutbox:
    return InMemoryEventOutbox(clock)


@pytest.fixture
def reporter() -> FakeEventReporter:
    return FakeEventReporter()


class Sleeps:
    """An injected sleep: records each pause and moves the fixed clock by it."""

    def __init__(self, clock) -> None:
        self.clock = clock
        self.pauses: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.clock.advance(int(seconds * 1000))
        await asyncio.sleep(0)


@pytest.fixture
def sleeps(clock) -> Sleeps:
    return Sleeps(clock)


@pytest.fixture
def make_deliver(outbox, reporter, write_context, sleeps):
    def make(**options) -> DeliverEvents:
        options = {"sleep": sleeps, "random": lambda: 1.0, "idle_s": 0.01} | options
        return DeliverEvents(outbox, reporter, write_context, **options)

    return make


async def until(condition, *, rounds: int = 2000) -> None:
    for _ in range(rounds):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("condition never became true")


async def running(deliver: DeliverEvents, condition) -> None:
    task = asyncio.create_task(deliver.run())
    try:
        await until(condition)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


# --- QueueEvents ------------------------------------------------------------------

async def test_queue_validates_then_appends_all_events_in_one_call_and_notifies(outbox):
    woken = []
    queue = QueueEvents(outbox, on_queued=lambda: woken.append(True))
    batch = events(1001)
    await queue.execute(batch, None)
    assert outbox.appends == [batch]
    assert (queue.accepted, queue.rejected, woken) == (1001, 0, [True])


async def test_queue_keeps_caller_fields_unchanged(outbox):
    sent = event("signup", key=CustomerKey("acme", "site-1"), idempotency_key="caller-key",
                 dimensions={"plan": "pro", "seats": 3.0, "trial": True}, timestamp_ms=1234)
    await QueueEvents(outbox).execute([sent], None)
    assert outbox.events == [sent]


async def test_queue_of_no_events_appends_nothing(outbox):
    woken = []
    await QueueEvents(outbox, on_queued=lambda: woken.append(True)).execute([], None)
    assert (outbox.appends, woken) == ([], [])


@pytest.mark.parametrize("bad, message", [
    (dict(name=""), "event_name must not be empty"),
    (dict(key=CustomerKey("")), "customer_id must not be empty"),
    (dict(idempotency_key=""), "idempotency_key must not be empty"),
    (dict(dimensions={"blob": "x" * 1_000_001}), "is larger than 1 MB encoded"),
], ids=["empty-event-name", "empty-customer", "empty-idempotency-key", "oversize"])
async def test_queue_rejects_bad_input_and_queues_nothing_of_the_call(outbox, bad, message):
    batch = events(1500)
    batch[1200] = event(**{"name": "e1200", **bad})
    with pytest.raises(InvalidRequestError) as caught:
        await QueueEvents(outbox).execute(batch, None)
    assert str(caught.value).startswith("events[1200]")
    assert message in str(caught.value)
    assert outbox.appends == []


async def test_queue_full_raises_counts_and_queues_nothing_of_the_call(clock):
    first = events(3, "a")
    outbox = InMemoryEventOutbox(clock, max_bytes=sum(map(stored_size, first)) + 10)
    queue = QueueEvents(outbox)
    await queue.execute(first, None)
    with pytest.raises(OutboxFullError) as caught:
        await queue.execute(events(2, "b"), None)
    assert str(caught.value) == (
        f"event outbox is full ({outbox.bytes_used()} of {outbox.max_bytes} bytes used)")
    assert (caught.value.capacity_bytes, caught.value.used_bytes) == (outbox.max_bytes, outbox.bytes_used())
    assert outbox.events == first
    assert (queue.accepted, queue.rejected) == (3, 2)


def test_outbox_fake_implements_the_port(outbox):
    assert isinstance(outbox, EventOutbox)


# --- DeliverEvents: batches and acknowledgements ----------------------------------

async def test_batches_of_at_most_batch_size_oldest_first_acknowledged(outbox, reporter, make_deliver):
    await outbox.append(events(2500))
    deliver = make_deliver()
    assert [await deliver.deliver_batch(None) for _ in range(4)] == [1000, 1000, 500, 0]
    assert [len(call) for call in reporter.calls] == [1000, 1000, 500]
    assert [e.event_name for e in reporter.sent] == [f"e{i}" for i in range(2500)]
    assert (outbox.depth(), deliver.deliveries) == (0, 2500)


async def test_configured_batch_size_and_bytes_bound_each_mutation(outbox, reporter, make_deliver):
    small = events(10)
    await outbox.append(small)
    deliver = make_deliver(batch_size=4, batch_bytes=stored_size(small[0]) * 3)
    while await deliver.deliver_batch(None):
        pass
    assert [len(call) for call in reporter.calls] == [3, 3, 3, 1]


async def test_an_event_over_the_byte_bound_is_still_sent_alone(outbox, reporter, make_deliver):
    await outbox.append([event("big", dimensions={"blob": "x" * 500}), event("small")])
    deliver = make_deliver(batch_bytes=10)
    while await deliver.deliver_batch(None):
        pass
    assert [len(call) for call in reporter.calls] == [1, 1]


@pytest.mark.parametrize("size", [0, 1001])
def test_batch_size_must_fit_one_mutation(outbox, reporter, write_context, size):
    with pytest.raises(ValueError):
        DeliverEvents(outbox, reporter, write_context, batch_size=size)


async def test_each_send_gets_the_write_budget(outbox, reporter, make_deliver, clock):
    await outbox.append(events(1))
    await make_deliver().deliver_batch(None)
    assert reporter.budgets == [Budget(clock.monotonic() + WRITE_TIMEOUT_S)]


async def test_failed_send_acknowledges_nothing(outbox, reporter, make_deliver):
    await outbox.append(events(5))
    reporter.fail_on_call(0, UpstreamUnavailableError("down"))
    with pytest.raises(UpstreamUnavailableError):
        await make_deliver().deliver_batch(None)
    assert (outbox.depth(), outbox.acknowledged) == (5, [])


# --- DeliverEvents.run: retries, backoff, recovery --------------------------------

@pytest.mark.parametrize("error", [
    UpstreamUnavailableError("down"), UpstreamRateLimitedError("429"),
    UpstreamAuthError("401"), UpstreamRejectedError("odd"),
], ids=["unavailable", "rate-limited", "auth", "unclassified"])
async def test_run_retries_transient_failures_then_delivers_everything_once(
        outbox, reporter, make_deliver, sleeps, error):
    await outbox.append(events(1500))
    for call in range(4):
        reporter.fail_on_call(call, error)
    deliver = make_deliver()
    await running(deliver, lambda: outbox.depth() == 0)
    delivered = [e.idempotency_key for call in reporter.calls[4:] for e in call]
    assert sorted(delivered) == sorted(f"k-e{i}" for i in range(1500))
    assert (deliver.deliveries, deliver.retries, deliver.rejections, deliver.failing) == (1500, 4, 0, 0)
    assert sleeps.pauses[:4] == [0.5, 1.0, 2.0, 4.0]


async def test_backoff_is_capped(outbox, reporter, make_deliver, sleeps):
    await outbox.append(events(1))
    for call in range(12):
        reporter.fail_on_call(call, UpstreamUnavailableError("down"))
    deliver = make_deliver(retry=RetryPolicy(initial_s=0.5, max_s=3.0))
    await running(deliver, lambda: outbox.depth() == 0)
    assert max(sleeps.pauses[:12]) == 3.0
    assert sleeps.pauses[:5] == [0.5, 1.0, 2.0, 3.0, 3.0]


@pytest.mark.parametrize("retry, unit_random, delay", [
    (0, 0.0, 0.25), (0, 1.0, 0.5), (1, 0.5, 0.75), (3, 1.0, 4.0), (10, 0.0, 15.0),
    (10, 1.0, 30.0), (10_000, 1.0, 30.0),
])
def test_retry_delay_is_jittered_between_half_the_cap_and_the_cap(retry, unit_random, delay):
    assert RetryPolicy(initial_s=0.5, max_s=30.0).delay_s(retry, unit_random) == delay


async def test_notify_wakes_an_idle_sender_at_once(outbox, reporter, make_deliver):
    deliver = make_deliver(idle_s=60.0)
    queue = QueueEvents(outbox, on_queued=deliver.notify)
    task = asyncio.create_task(deliver.run())
    try:
        await asyncio.sleep(0.01)
        await queue.execute(events(3), None)
        await until(lambda: outbox.depth() == 0, rounds=200)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert deliver.deliveries == 3


class FlakyPeekOutbox(InMemoryEventOutbox):
    def __init__(self, clock) -> None:
        super().__init__(clock)
        self.peek_failures = 1

    async def peek(self, max_events, *, max_bytes=None):
        if self.peek_failures:
            self.peek_failures -= 1
            raise OSError("disk trouble")
        return await super().peek(max_events, max_bytes=max_bytes)


async def test_run_survives_an_outbox_failure(clock, reporter, write_context, sleeps):
    outbox = FlakyPeekOutbox(clock)
    await outbox.append(events(2))
    deliver = DeliverEvents(outbox, reporter, write_context, sleep=sleeps, random=lambda: 0.0,
                            idle_s=0.01)
    await running(deliver, lambda: outbox.depth() == 0)
    assert (deliver.deliveries, deliver.retries) == (2, 1)


# --- refused input ----------------------------------------------------------------

class RefusingReporter(FakeEventReporter):
    """Refuses any mutation containing an event whose key is in ``bad``."""

    def __init__(self, bad: set[str], error: type = UpstreamInvalidInputError) -> None:
        super().__init__()
        self.bad = bad
        self.error = error

    async def report(self, events: Sequence[Event], budget: Budget) -> None:
        await super().report(events, budget)
        if any(e.idempotency_key in self.bad for e in events):
            raise self.error("BadUserInput")


@pytest.mark.parametrize("error", [UpstreamInvalidInputError, UpstreamNotFoundError])
async def test_refused_events_are_isolated_dropped_and_counted_the_rest_delivered(
        outbox, write_context, sleeps, error):
    reporter = RefusingReporter({"k-e17", "k-e600"}, error)
    await outbox.append(events(1000))
    deliver = DeliverEvents(outbox, reporter, write_context, sleep=sleeps)
    assert await deliver.deliver_batch(None) == 1000
    accepted = {e.idempotency_key for call in reporter.calls if not reporter.bad & {
        x.idempotency_key for x in call} for e in call}
    assert accepted == {f"k-e{i}" for i in range(1000)} - {"k-e17", "k-e600"}
    assert (outbox.depth(), deliver.deliveries, deliver.rejections) == (0, 998, 2)
    assert len(reporter.calls) < 50


# --- flush ------------------------------------------------------------------------

async def test_flush_delivers_everything_before_the_deadline(outbox, reporter, make_deliver, clock):
    await outbox.append(events(2345))
    deadline = Budget(clock.monotonic() + 1.0)
    assert await make_deliver().flush(deadline) == 0
    assert len(reporter.sent) == 2345
    assert all(b.deadline == deadline.deadline for b in reporter.budgets)


async def test_flush_retries_until_the_deadline_then_leaves_the_rest_queued(
        outbox, reporter, make_deliver, clock, sleeps):
    await outbox.append(events(1500))
    reporter.fail_on_call(1, UpstreamUnavailableError("down"))
    for call in range(2, 100):
        reporter.fail_on_call(call, UpstreamUnavailableError("down"))
    start = clock.monotonic()
    left = await make_deliver().flush(Budget(start + 5.0))
    assert left == 500 == outbox.depth()
    assert clock.monotonic() - start == pytest.approx(5.0)
    assert sum(sleeps.pauses) == pytest.approx(5.0)


async def test_flush_of_an_empty_outbox_returns_at_once(outbox, reporter, make_deliver, clock):
    assert await make_deliver().flush(Budget(clock.monotonic() + 5.0)) == 0
    assert reporter.calls == []


async def test_flush_gives_up_on_a_send_that_outlives_the_deadline(outbox, write_context):
    class StuckReporter(FakeEventReporter):
        async def report(self, events, budget):
            await asyncio.sleep(60)

    await outbox.append(events(3))
    deliver = DeliverEvents(outbox, StuckReporter(), write_context)
    clock = write_context.clock
    real = asyncio.get_running_loop().time()
    assert await deliver.flush(Budget(clock.monotonic() + 0.05)) == 3
    assert asyncio.get_running_loop().time() - real < 1.0
