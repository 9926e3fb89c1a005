"""Use cases wired with fakes and the real MemoryEntitlementCache (design.md §3, tests/)."""
from __future__ import annotations

import pytest

from adapters.outbound.memory_cache import MemoryEntitlementCache
from domain.model.fallback import EMPTY_FALLBACK_TABLE
from domain.services.load_entitlements import LoadEntitlements
from domain.services.read_context import ReadContext
from domain.services.write_context import WriteContext
from tests.fakes import FakeEntitlementSource, FixedClock, RecordingTelemetry
from tests.unit.services.timeouts import READ_TIMEOUT_S, WRITE_TIMEOUT_S


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock("2025-07-10T15:30:00Z", monotonic=1000.0)


@pytest.fixture
def source() -> FakeEntitlementSource:
    return FakeEntitlementSource()


@pytest.fixture
def telemetry() -> RecordingTelemetry:
    return RecordingTelemetry()


@pytest.fixture
def cache() -> MemoryEntitlementCache:
    return MemoryEntitlementCache(max_bytes=64 * 1024 * 1024)


@pytest.fixture
def loader(cache, source, clock, telemetry) -> LoadEntitlements:
    return LoadEntitlements(cache, source, clock, telemetry)


@pytest.fixture
def make_context(loader, clock, telemetry):
    def make(fallbacks=EMPTY_FALLBACK_TABLE) -> ReadContext:
        return ReadContext(loader, fallbacks, clock, telemetry, READ_TIMEOUT_S)

    return make


@pytest.fixture
def read_context(make_context) -> ReadContext:
    return make_context()


@pytest.fixture
def write_context(clock) -> WriteContext:
    return WriteContext(clock, WRITE_TIMEOUT_S)
