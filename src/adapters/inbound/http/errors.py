"""The error policy of the HTTP/JSON edge: one table from failure kinds to HTTP statuses.

The classification (kind and message) is shared with gRPC (``adapters.inbound.error_policy``);
only the status numbers and the JSON error body are chosen here. Documented in
docs/http-api.md and the OpenAPI document.
"""
from __future__ import annotations

import re
from typing import Any

from adapters.inbound.error_policy import GENERIC_INTERNAL_MESSAGE, FailureKind, classify

#: HTTP status per failure kind. FAILED_PRECONDITION (upstream rejected the sidecar's
#: server API key) is 424 Failed Dependency: not retryable until the key is fixed, and
#: distinct from 502 (an upstream answer we could not classify).
HTTP_STATUS = {
    FailureKind.INVALID_ARGUMENT: 400,
    FailureKind.NOT_FOUND: 404,
    FailureKind.FAILED_PRECONDITION: 424,
    FailureKind.RESOURCE_EXHAUSTED: 429,
    FailureKind.UNAVAILABLE: 503,
    FailureKind.UNKNOWN: 502,
}
INTERNAL_STATUS = 500
#: Refusals decided by the HTTP edge itself, before any use case runs.
UNAVAILABLE_STATUS = HTTP_STATUS[FailureKind.UNAVAILABLE]
TOO_LARGE_STATUS = 413

_SNAKE = re.compile(r"_([a-z0-9])")
_QUOTED = re.compile(r"(\[[^\]]*\])")


def camel_field(field: str) -> str:
    """``usages[3].feature_id`` -> ``usages[3].featureId``; bracketed map keys are kept."""
    parts = _QUOTED.split(field)
    return "".join(
        part if part.startswith("[") else _SNAKE.sub(lambda m: m.group(1).upper(), part)
        for part in parts
    )


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """``{"error": {"code", "message", ...}}``: ``code`` is the failure kind's name."""
    return {"error": {"code": code, "message": message, **extra}}


def error_reply(rpc: str, error: Exception) -> tuple[int, dict[str, Any]] | None:
    """Status and body for a known failure of ``rpc``, or ``None`` for a bug (500)."""
    failure = classify(rpc, error)
    if failure is None:
        return None
    extra: dict[str, Any] = {}
    message = failure.message
    if failure.field is not None:
        extra["field"] = camel_field(failure.field)
        message = f"{extra['field']} {failure.problem}"
    if failure.recorded is not None:
        extra["recordedCount"] = failure.recorded
    return HTTP_STATUS[failure.kind], error_body(failure.kind.value, message, **extra)


def internal_reply() -> tuple[int, dict[str, Any]]:
    return INTERNAL_STATUS, error_body("INTERNAL", GENERIC_INTERNAL_MESSAGE)
