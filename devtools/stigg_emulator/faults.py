"""Switchable faults, per endpoint kind and optionally per GraphQL operation.

Modes:

- ``none``: clear faults (see :meth:`FaultPlan.set`).
- ``down``: abort the TCP connection without any response (the client sees a
  connection error, e.g. ``httpx.RemoteProtocolError``).
- ``malformed``: answer bytes that are not HTTP (a garbage status line), then close
  the connection (the client's parser rejects the response).
- ``slow``: sleep ``delay_ms`` milliseconds, then answer normally.
- ``unauthorized``: HTTP 401 with a JSON error body.
- ``status``: HTTP ``status`` (e.g. 503, 429) with a JSON error body and, when
  ``retry_after`` (seconds) is given, a ``Retry-After`` header.
- ``graphql_error``: HTTP 200 with ``{"data": null, "errors": [{"message": message,
  "extensions": {"code": code[, "traceId": trace_id]}}]}``.
- ``apply_then_drop``: write operations only (``reportUsage``, ``reportUsageBulk``,
  ``reportEvent``): apply the mutation, sleep ``delay_ms``, then abort the connection
  without a response. Other requests do not match this fault and do not consume it.

``target`` is ``"all"``, ``"edge"`` or ``"graphql"``. ``operation`` (optional)
restricts a fault to GraphQL requests whose operation name or a root field equals
it. ``count=N`` makes a fault apply to the next N matching requests only; ``None``
means until cleared. When several faults match, the most specific wins: an
operation-specific one before a generic one, a kind-specific target before ``all``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

MODES = ("none", "down", "malformed", "slow", "unauthorized", "status", "graphql_error",
         "apply_then_drop")
TARGETS = ("all", "edge", "graphql")
WRITE_OPERATIONS = frozenset({"reportUsage", "reportUsageBulk", "reportEvent"})


@dataclass
class Fault:
    """One active fault. ``delay_ms`` in milliseconds, ``retry_after`` in seconds."""

    mode: str
    target: str = "all"
    operation: str | None = None
    delay_ms: int = 0
    status: int = 503
    retry_after: float | None = None
    code: str = "InternalServerError"
    message: str = "Emulated upstream error"
    trace_id: str | None = None
    count: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class FaultPlan:
    """The set of active faults, keyed by (target, operation)."""

    def __init__(self) -> None:
        self._faults: dict[tuple[str, str | None], Fault] = {}

    def set(self, fault: Fault) -> None:
        """Install ``fault``, replacing any with the same (target, operation).

        Mode ``none`` clears instead: with ``target="all"`` and no operation it clears
        every fault; otherwise it clears the faults of that target (and operation,
        when given).
        """
        if fault.mode not in MODES:
            raise ValueError(f"unknown fault mode {fault.mode!r}; expected one of {MODES}")
        if fault.target not in TARGETS:
            raise ValueError(f"unknown fault target {fault.target!r}; expected one of {TARGETS}")
        if fault.count is not None and fault.count < 1:
            raise ValueError("fault count must be a positive integer or None")
        if fault.mode == "none":
            self._clear(fault.target, fault.operation)
            return
        self._faults[(fault.target, fault.operation)] = fault

    def clear(self) -> None:
        self._faults.clear()

    def active(self) -> list[Fault]:
        return list(self._faults.values())

    def take(self, kind: str, operations: frozenset[str] = frozenset()) -> Fault | None:
        """Return the fault for a request and consume one of its ``count``.

        ``kind`` is ``"edge"`` or ``"graphql"``; ``operations`` holds the request's
        operation name and root field names.
        """
        is_write = bool(operations & WRITE_OPERATIONS)
        candidates = [
            f for f in self._faults.values()
            if f.target in ("all", kind)
            and (f.operation is None or f.operation in operations)
            and (f.mode != "apply_then_drop" or (kind == "graphql" and is_write))
        ]
        if not candidates:
            return None
        fault = min(candidates, key=lambda f: (f.operation is None, f.target == "all"))
        if fault.count is not None:
            fault.count -= 1
            if fault.count <= 0:
                self._faults.pop((fault.target, fault.operation), None)
        return fault

    def _clear(self, target: str, operation: str | None) -> None:
        if target == "all" and operation is None:
            self._faults.clear()
            return
        for key in list(self._faults):
            if key[0] == target and (operation is None or key[1] == operation):
                del self._faults[key]
