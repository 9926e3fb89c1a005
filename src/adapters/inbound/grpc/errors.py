"""The error policy of the gRPC edge: one table from failure kinds to status codes.

The classification (which kind, which message) is transport-free, in
``adapters.inbound.error_policy``; this module only chooses gRPC codes and metadata.
"""
from __future__ import annotations

from dataclasses import dataclass

import grpc

from adapters.inbound.error_policy import (  # noqa: F401 - re-exported for the servicer
    GENERIC_INTERNAL_MESSAGE,
    WRITE_PREFIXES,
    FailureKind,
    classify,
)

_STATUS = {kind: grpc.StatusCode[kind.value] for kind in FailureKind}


@dataclass(frozen=True, slots=True)
class StatusReply:
    code: grpc.StatusCode
    message: str
    trailing_metadata: tuple[tuple[str, str], ...] = ()


def status_for(rpc: str, error: Exception) -> StatusReply | None:
    """The status for a known failure, or ``None`` for a bug (answered ``INTERNAL``)."""
    failure = classify(rpc, error)
    if failure is None:
        return None
    metadata = () if failure.recorded is None else (("recorded-count", str(failure.recorded)),)
    return StatusReply(_STATUS[failure.kind], failure.message, metadata)
