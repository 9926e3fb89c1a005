"""Records of the upstream-facing requests the emulator received.

Control requests (``/_emulator/...``) are not recorded.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

RECORDED_HEADERS = (
    "x-api-key", "x-api-version", "content-type", "x-graphql-operation-name",
    "user-agent", "x-sdk-instance-id",
)
"""Header names (lower case) kept in :attr:`RequestRecord.headers`."""


@dataclass
class RequestRecord:
    """One received request.

    - ``kind``: ``"edge"`` or ``"graphql"``.
    - ``operation``: the GraphQL operation name, else the first root field; for Edge
      always ``"entitlementsState"``.
    - ``root_fields``: GraphQL root field names (Edge: ``["entitlementsState"]``).
    - ``customer_id`` / ``resource_id``: from the path and query (Edge) or from the
      arguments (GraphQL; for bulk writes only when every item names the same one).
    - ``headers``: the :data:`RECORDED_HEADERS` that were present, lower-case names.
    - ``variables``: the GraphQL ``variables`` object as received (Edge: None).
    - ``time``: arrival, epoch seconds (real time, float).
    - ``fault``: the fault mode applied, or None.
    - ``status``: the HTTP status answered, or None if the connection was dropped
      (or the answer is still pending).
    """

    kind: str
    operation: str | None
    root_fields: list[str] = field(default_factory=list)
    customer_id: str | None = None
    resource_id: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    variables: dict[str, Any] | None = None
    time: float = field(default_factory=time.time)
    fault: str | None = None
    status: int | None = None

    def matches_operation(self, operation: str) -> bool:
        return operation == self.operation or operation in self.root_fields

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def pick_headers(headers: Any) -> dict[str, str]:
    """The recorded subset of a case-insensitive header mapping."""
    return {name: headers[name] for name in RECORDED_HEADERS if name in headers}


class RequestLog:
    """An append-only list of :class:`RequestRecord` with counting helpers."""

    def __init__(self) -> None:
        self.records: list[RequestRecord] = []

    def add(self, record: RequestRecord) -> RequestRecord:
        self.records.append(record)
        return record

    def clear(self) -> None:
        self.records.clear()

    def count(self, kind: str | None = None, operation: str | None = None,
              customer_id: str | None = None) -> int:
        """Count records matching every given filter (None means any)."""
        return sum(
            1 for r in self.records
            if (kind is None or r.kind == kind)
            and (operation is None or r.matches_operation(operation))
            and (customer_id is None or r.customer_id == customer_id)
        )

    def summary(self) -> dict[str, Any]:
        """Counts by kind and by operation, JSON-ready."""
        by_operation: dict[str, int] = {}
        for record in self.records:
            name = f"{record.kind}:{record.operation}"
            by_operation[name] = by_operation.get(name, 0) + 1
        return {
            "total": len(self.records),
            "edge": self.count(kind="edge"),
            "graphql": self.count(kind="graphql"),
            "byOperation": by_operation,
        }
