"""The failure vocabulary of outbound ports; adapters translate their technology into it.

Inbound adapters map these to transport statuses (one table, e.g. the gRPC error policy).
reference: upstream-api.md §7.
"""
from __future__ import annotations


class UpstreamError(Exception):
    """Any failure talking to the upstream. ``trace_id`` is upstream's, when it gave one."""

    def __init__(self, message: str, *, code: str | None = None, trace_id: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.trace_id = trace_id


class SourceOfflineError(UpstreamError):
    """The source is deliberately offline (``OFFLINE=true``): not a failure, not counted."""


class UpstreamUnavailableError(UpstreamError):
    """Connection failure, timeout or budget exhausted, HTTP 5xx, ``OperationTimeout``."""


class UpstreamAuthError(UpstreamError):
    """The server API key was rejected (HTTP 401/403, ``Unauthenticated``, …)."""


class UpstreamRateLimitedError(UpstreamError):
    """HTTP 429 or ``RateLimitExceeded`` after retries."""


class UpstreamNotFoundError(UpstreamError):
    """A code naming a missing entity (``CustomerNotFound``, any ``…NotFound``)."""


class UpstreamInvalidInputError(UpstreamError):
    """Upstream rejected the input (HTTP 400, ``BadUserInput``, …)."""


class UpstreamRejectedError(UpstreamError):
    """Any other upstream error."""


class CacheUnavailableError(Exception):
    """The cache backend cannot be reached (e.g. Redis down); reads go live instead."""


class PartialWriteError(Exception):
    """A chunked write failed after ``recorded`` leading items were accepted upstream.

    ``cause`` is the ``UpstreamError`` of the failing chunk (upstream-api.md §5.2), or
    the ``OutboxFullError`` of a chunk that was to be buffered (``USAGE_BUFFERING``).
    """

    def __init__(self, operation: str, recorded: int, total: int, cause: Exception):
        detail = cause.message if isinstance(cause, UpstreamError) else str(cause)
        super().__init__(f"{operation}: {recorded} of {total} recorded before the failure: {detail}")
        self.operation = operation
        self.recorded = recorded
        self.total = total
        self.cause = cause
