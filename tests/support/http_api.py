"""A real sidecar with the HTTP/JSON API on (``HTTP_API_ENABLED=true``), and the
translation of protobuf messages into that API's JSON, so one table can drive both."""
from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Any, AsyncIterator

import httpx
from google.protobuf import json_format

from domain.model.kinds import AccessDeniedReason, FeatureType, MeterType, ResetPeriod
from support.sidecar import PinnedWallClock, base_env, running_sidecar

#: JSON enum fields and the domain enum whose values (GraphQL names) the API uses.
_ENUMS = {
    "accessDeniedReason": ("ACCESS_DENIED_REASON_", AccessDeniedReason),
    "featureType": ("FEATURE_TYPE_", FeatureType),
    "meterType": ("METER_TYPE_", MeterType),
    "resetPeriod": ("ENTITLEMENT_RESET_PERIOD_", ResetPeriod),
}
_TIMES = {"nextResetDate", "usagePeriodAnchor", "usagePeriodStart", "usagePeriodEnd", "timestamp"}


@asynccontextmanager
async def http_sidecar(monkeypatch, emulator, **env: str) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """``(app, client)``: the sidecar (gRPC on ``app.grpc_port``) and an HTTP client on
    its ``HTTP_PORT``."""
    full = base_env(emulator.base_url) | {"HTTP_API_ENABLED": "true"} | env
    async with running_sidecar(monkeypatch, full, PinnedWallClock()) as app:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}",
                                     trust_env=False, timeout=10.0) as client:
            yield app, client


def iso_ms(text: str) -> str:
    """Any RFC 3339 UTC time as the API writes it: ``2025-07-01T00:00:00.000Z``."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _answer_value(name: str, value: Any) -> Any:
    if isinstance(value, dict):
        return answer_json_of(value)
    if isinstance(value, list):
        return [_answer_value(name, v) for v in value]
    if name in _ENUMS and isinstance(value, str):
        prefix, enum = _ENUMS[name]
        return enum[value.removeprefix(prefix)].value
    if name in _TIMES and isinstance(value, str):
        return iso_ms(value)
    return value


def answer_json_of(document: dict[str, Any]) -> dict[str, Any]:
    """A protobuf JSON document (MessageToDict) in the API's conventions: enums as GraphQL
    names and zero enums left out, times with milliseconds."""
    result = {}
    for name, value in document.items():
        if isinstance(value, str) and value.endswith("_UNSPECIFIED"):
            continue
        result[name] = _answer_value(name, value)
    return result


def grpc_answer_as_json(message: Any) -> dict[str, Any]:
    """What the HTTP API must answer for the gRPC answer ``message``: every field that
    is set on the wire (no-presence fields included), in the API's conventions."""
    return answer_json_of(json_format.MessageToDict(message, always_print_fields_with_no_presence=True))


def _request_value(name: str, value: Any) -> Any:
    if name == "dimensions":
        return {k: next(iter(v.values())) for k, v in value.items()}
    if name == "updateBehavior":
        return value.removeprefix("USAGE_UPDATE_BEHAVIOR_")
    if isinstance(value, dict):
        return {k: _request_value(k, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_request_value(name, v) for v in value]
    return value


def json_request_of(request: Any) -> dict[str, Any]:
    """The HTTP body for a gRPC request: its protobuf JSON, with dimensions as plain
    values and enums as names."""
    return {k: _request_value(k, v) for k, v in json_format.MessageToDict(request).items()}
