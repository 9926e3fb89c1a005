"""The fakes honour the ports they stand in for (design.md §5 items 5 and 17)."""
from __future__ import annotations

import pytest

from adapters.outbound.memory_cache import MemoryEntitlementCache
from domain.model.budget import Budget
from domain.model.identifiers import CustomerKey
from domain.model.kinds import AccessDeniedReason
from ports.clock import Clock
from ports.entitlement_cache import EntitlementCache
from ports.entitlement_source import EntitlementSource
from ports.errors import UpstreamUnavailableError
from ports.telemetry import Telemetry
from ports.usage_reporter import EventReporter, UsageReporter
from tests.fakes import (
    FakeEntitlementSource,
    FakeEventReporter,
    FakeUsageReporter,
    FixedClock,
    RecordingTelemetry,
    epoch_ms,
)


@pytest.mark.parametrize(
    "fake, port",
    [(FixedClock(), Clock), (FakeEntitlementSource(), EntitlementSource),
     (FakeUsageReporter(), UsageReporter), (FakeEventReporter(), EventReporter),
     (RecordingTelemetry(), Telemetry), (MemoryEntitlementCache(1024), EntitlementCache)],
    ids=["clock", "source", "usage", "events", "telemetry", "memory-cache"],
)
def test_fakes_implement_their_ports(fake, port):
    assert isinstance(fake, port)


def test_fixed_clock():
    clock = FixedClock("2025-07-10T15:30:00Z", monotonic=5.0)
    assert clock.now_ms() == epoch_ms("2025-07-10T15:30:00.000Z") == 1752161400000
    clock.advance(1500)
    assert (clock.now_ms(), clock.monotonic()) == (1752161401500, 6.5)
    clock.set("2025-07-10T15:30:00Z")
    assert (clock.now_ms(), clock.monotonic()) == (1752161400000, 6.5)


async def test_fake_source_answers_unknown_customers_in_band_and_can_fail():
    source = FakeEntitlementSource()
    found = await source.fetch(CustomerKey("x"), consistent=False, budget=Budget(1.0))
    assert found.customer_reason is AccessDeniedReason.CUSTOMER_NOT_FOUND
    source.fail()
    with pytest.raises(UpstreamUnavailableError):
        await source.fetch(CustomerKey("x"), consistent=True, budget=Budget(1.0))
    source.recover()
    await source.fetch(CustomerKey("x"), consistent=False, budget=Budget(1.0))
    assert [c.consistent for c in source.calls] == [False, True, False]
