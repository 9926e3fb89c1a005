"""Request timestamps the official clients cannot even build (they convert to datetime
first), but raw stubs can send: each problem is named precisely (mapping._timestamp_ms)."""
from __future__ import annotations

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from adapters.inbound.grpc import mapping
from domain.model.errors import InvalidRequestError
from sidecarpb.v1 import sidecar_pb2 as pb


def report(**stamp) -> pb.ReportUsageRequest:
    return pb.ReportUsageRequest(customer_id="acme", feature_id="api-calls", value=1,
                                 timestamp=Timestamp(**stamp))


@pytest.mark.parametrize("stamp, field, problem", [
    ({"seconds": 1, "nanos": 2_000_000_000}, "timestamp.nanos", "must be 0 to 999,999,999"),
    ({"seconds": 1, "nanos": -1}, "timestamp.nanos", "must be 0 to 999,999,999"),
    ({"seconds": 253_402_300_800}, "timestamp", "must be between 0001-01-01 and 9999-12-31"),
    ({"seconds": -62_135_596_801}, "timestamp", "must be between 0001-01-01 and 9999-12-31"),
])
def test_out_of_range_timestamps_name_the_part_that_is_wrong(stamp, field, problem):
    with pytest.raises(InvalidRequestError) as raised:
        mapping.usage_report(report(**stamp))
    assert raised.value.field == field and problem in str(raised.value)


def test_the_extremes_of_the_range_are_accepted():
    assert mapping.usage_report(report(seconds=253_402_300_799, nanos=999_999_999)).timestamp_ms \
        == 253_402_300_799_999
