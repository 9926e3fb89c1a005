"""The error policy of the gRPC edge: one table from exceptions to status codes.

reference: upstream-api.md §7 (writes), decision-rules.md §8.7. Reads never reach this
table with upstream errors: they answer with fallbacks.
"""
from __future__ import annotations

from dataclasses import dataclass

import grpc

from domain.model.errors import InvalidRequestError
from ports.errors import (
    PartialWriteError,
    UpstreamAuthError,
    UpstreamError,
    UpstreamInvalidInputError,
    UpstreamNotFoundError,
    UpstreamRateLimitedError,
    UpstreamUnavailableError,
)

#: Message prefixes kept from the reference, per RPC.
WRITE_PREFIXES = {
    "ReportUsage": "Failed to report usage",
    "ReportUsageBulk": "Failed to report usage",
    "ReportEvents": "Failed to report usage event",
}

_UPSTREAM_STATUS: tuple[tuple[type[UpstreamError], grpc.StatusCode], ...] = (
    (UpstreamUnavailableError, grpc.StatusCode.UNAVAILABLE),
    (UpstreamRateLimitedError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (UpstreamAuthError, grpc.StatusCode.FAILED_PRECONDITION),
    (UpstreamNotFoundError, grpc.StatusCode.NOT_FOUND),
    (UpstreamInvalidInputError, grpc.StatusCode.INVALID_ARGUMENT),
)

GENERIC_INTERNAL_MESSAGE = "internal error in the sidecar; see its log"


@dataclass(frozen=True, slots=True)
class StatusReply:
    code: grpc.StatusCode
    message: str
    trailing_metadata: tuple[tuple[str, str], ...] = ()


def _upstream_message(rpc: str, error: UpstreamError) -> str:
    prefix = WRITE_PREFIXES.get(rpc, f"{rpc} failed")
    if isinstance(error, UpstreamUnavailableError):
        text = f"{prefix}: upstream unavailable ({error.message})"
    elif isinstance(error, UpstreamAuthError):
        text = f"{prefix}: upstream rejected the server API key"
    else:
        text = f"{prefix}: {error.message}"
    if error.trace_id:
        text += f" (trace id {error.trace_id})"
    return text


def _upstream_code(error: UpstreamError) -> grpc.StatusCode:
    for error_type, code in _UPSTREAM_STATUS:
        if isinstance(error, error_type):
            return code
    return grpc.StatusCode.UNKNOWN


def status_for(rpc: str, error: Exception) -> StatusReply | None:
    """The status for a known failure, or ``None`` for a bug (answered ``INTERNAL``)."""
    if isinstance(error, InvalidRequestError):
        return StatusReply(grpc.StatusCode.INVALID_ARGUMENT, str(error))
    if isinstance(error, PartialWriteError):
        cause = error.cause
        noun = "usages" if rpc == "ReportUsageBulk" else "events"
        message = (
            f"{rpc}: {error.recorded} of {error.total} {noun} recorded before the failure: "
            f"{_upstream_message(rpc, cause)}"
        )
        return StatusReply(
            _upstream_code(cause), message, (("recorded-count", str(error.recorded)),)
        )
    if isinstance(error, UpstreamError):
        return StatusReply(_upstream_code(error), _upstream_message(rpc, error))
    return None
