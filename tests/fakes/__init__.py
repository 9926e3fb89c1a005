"""Reusable fakes of the ports (design.md §5 item 17) and short domain builders."""
from tests.fakes.clock import FixedClock, epoch_ms
from tests.fakes.entitlement_source import FakeEntitlementSource, FetchCall
from tests.fakes.realtime_updates import FakeRealtimeUpdates
from tests.fakes.reporters import FakeEventReporter, FakeUsageReporter, echo_ack
from tests.fakes.telemetry import RecordingTelemetry

__all__ = [
    "FakeEntitlementSource",
    "FakeEventReporter",
    "FakeRealtimeUpdates",
    "FakeUsageReporter",
    "FetchCall",
    "FixedClock",
    "RecordingTelemetry",
    "echo_ack",
    "epoch_ms",
]
