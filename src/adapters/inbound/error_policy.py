"""The inbound error policy, free of any transport: which failure kind, which message.

reference: upstream-api.md §7 (writes), decision-rules.md §8.7. Each transport maps a
``FailureKind`` to its own status in one table (grpc/errors.py, http/errors.py). Reads
never get here with upstream errors: they answer with fallbacks.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from domain.model.errors import InvalidRequestError
from ports.event_outbox import OutboxFullError, OutboxUnavailableError
from ports.errors import (
    PartialWriteError,
    UpstreamAuthError,
    UpstreamError,
    UpstreamInvalidInputError,
    UpstreamNotFoundError,
    UpstreamRateLimitedError,
    UpstreamUnavailableError,
)


class FailureKind(Enum):
    """Named after the gRPC codes they become; ``None`` from ``classify`` is INTERNAL."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    NOT_FOUND = "NOT_FOUND"
    FAILED_PRECONDITION = "FAILED_PRECONDITION"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    UNAVAILABLE = "UNAVAILABLE"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True, slots=True)
class Failure:
    """A known failure. ``field``/``problem`` are set for invalid requests (the field as
    the use case named it, e.g. ``usages[3].feature_id``); ``recorded`` for partial writes."""

    kind: FailureKind
    message: str
    field: str | None = None
    problem: str | None = None
    recorded: int | None = None


#: Message prefixes kept from the reference, per RPC.
WRITE_PREFIXES = {
    "ReportUsage": "Failed to report usage",
    "ReportUsageBulk": "Failed to report usage",
    "ReportEvents": "Failed to report usage event",
}

GENERIC_INTERNAL_MESSAGE = "internal error in the sidecar; see its log"

_UPSTREAM_KINDS: tuple[tuple[type[UpstreamError], FailureKind], ...] = (
    (UpstreamUnavailableError, FailureKind.UNAVAILABLE),
    (UpstreamRateLimitedError, FailureKind.RESOURCE_EXHAUSTED),
    (UpstreamAuthError, FailureKind.FAILED_PRECONDITION),
    (UpstreamNotFoundError, FailureKind.NOT_FOUND),
    (UpstreamInvalidInputError, FailureKind.INVALID_ARGUMENT),
)


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


def _upstream_kind(error: UpstreamError) -> FailureKind:
    for error_type, kind in _UPSTREAM_KINDS:
        if isinstance(error, error_type):
            return kind
    return FailureKind.UNKNOWN


def classify(rpc: str, error: Exception) -> Failure | None:
    """The failure for a known error of ``rpc``, or ``None`` for a bug (INTERNAL)."""
    if isinstance(error, InvalidRequestError):
        return Failure(FailureKind.INVALID_ARGUMENT, str(error), error.field, error.problem)
    if isinstance(error, OutboxFullError):
        return Failure(FailureKind.RESOURCE_EXHAUSTED, str(error))
    if isinstance(error, OutboxUnavailableError):
        prefix = WRITE_PREFIXES.get(rpc, f"{rpc} failed")
        return Failure(FailureKind.UNAVAILABLE, f"{prefix}: event outbox unavailable ({error})")
    if isinstance(error, PartialWriteError):
        cause = error.cause
        noun = "usages" if rpc == "ReportUsageBulk" else "events"
        if isinstance(cause, UpstreamError):
            kind, detail = _upstream_kind(cause), _upstream_message(rpc, cause)
        elif isinstance(cause, OutboxFullError):  # a later chunk could not be buffered
            kind, detail = FailureKind.RESOURCE_EXHAUSTED, str(cause)
        else:
            return None
        message = f"{rpc}: {error.recorded} of {error.total} {noun} recorded before the failure: {detail}"
        return Failure(kind, message, recorded=error.recorded)
    if isinstance(error, UpstreamError):
        return Failure(_upstream_kind(error), _upstream_message(rpc, error))
    return None
