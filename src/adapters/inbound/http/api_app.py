"""The HTTP/JSON API: each endpoint parses JSON, awaits the same use case as its gRPC
twin, and maps the answer (design.md §5 item 8). Off unless ``HTTP_API_ENABLED=true``;
served on ``HTTP_PORT`` next to the probes. Reference: docs/http-api.md, docs/openapi.json.
"""
from __future__ import annotations

import asyncio

import json
import logging
import math
import re
from dataclasses import dataclass
from time import perf_counter
from typing import Any, Awaitable, Callable, Mapping

from aiohttp import web

from adapters.inbound.http import json_mapping as jm
from adapters.inbound.http.errors import (
    TOO_LARGE_STATUS,
    UNAVAILABLE_STATUS,
    error_body,
    error_reply,
    internal_reply,
)
from adapters.inbound.http.json_fields import MAX_BODY_BYTES, parse_body
from adapters.inbound.http.openapi import build_openapi
from adapters.inbound.use_cases import UseCases
from domain.model.budget import Budget
from domain.model.errors import InvalidRequestError
from domain.model.kinds import FeatureKind
from ports.clock import Clock

log = logging.getLogger("sidecar.http")

#: The caller's deadline header, in milliseconds (the twin of a gRPC deadline).
TIMEOUT_HEADER = "X-Request-Timeout-Ms"
#: Margin kept from the caller's deadline so a fallback answer still reaches it (s), as
#: on gRPC.
DEADLINE_MARGIN_S = 0.020
_MILLISECONDS = re.compile(r"[0-9]{1,12}")

Json = dict[str, Any]
Operation = Callable[[UseCases, Json, Budget | None], Awaitable[Json]]


def _typed(kind: FeatureKind) -> Operation:
    async def check(uc: UseCases, body: Json, deadline: Budget | None) -> Json:
        key, query = jm.typed_request(kind, body)
        return jm.TYPED_RESPONSES[kind](await uc.typed.execute(kind, key, query, deadline))

    return check


async def _generic(uc: UseCases, body: Json, deadline: Budget | None) -> Json:
    key, query = jm.generic_request(body)
    answer = await uc.generic.execute(key, query, deadline, rpc="GetEntitlement")
    return jm.generic_response(answer)


async def _v2(uc: UseCases, body: Json, deadline: Budget | None) -> Json:
    key, query, currency_id = jm.v2_request(body)
    return jm.v2_response(await uc.v2.execute(key, query, currency_id, deadline))


async def _state_v1(uc: UseCases, body: Json, deadline: Budget | None) -> Json:
    answer = await uc.state.execute(jm.key_request(body), deadline, rpc="GetEntitlements")
    return jm.state_v1_response(answer)


async def _state_v2(uc: UseCases, body: Json, deadline: Budget | None) -> Json:
    answer = await uc.state.execute(jm.key_request(body), deadline, rpc="GetEntitlementsStateV2")
    return jm.state_v2_response(answer)


async def _reload(uc: UseCases, body: Json, deadline: Budget | None) -> Json:
    return jm.reload_response(await uc.reload.execute(jm.key_request(body), deadline))


async def _usage(uc: UseCases, body: Json, deadline: Budget | None) -> Json:
    acks = await uc.usage.execute([jm.usage_report(body)], deadline)
    return jm.usage_response(acks[0])


async def _usage_bulk(uc: UseCases, body: Json, deadline: Budget | None) -> Json:
    acks = await uc.usage.execute(jm.usage_reports(body), deadline, field_prefix="usages")
    return jm.usage_bulk_response(acks)


async def _events(uc: UseCases, body: Json, deadline: Budget | None) -> Json:
    await uc.events.execute(jm.events(body), deadline)
    return {}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """``POST path`` runs ``operation``; ``rpc`` is its gRPC twin (messages, metrics)."""

    path: str
    rpc: str
    operation: Operation


ENDPOINTS = (
    Endpoint("/api/v1/entitlements/boolean", "GetBooleanEntitlement", _typed(FeatureKind.BOOLEAN)),
    Endpoint("/api/v1/entitlements/numeric", "GetNumericEntitlement", _typed(FeatureKind.NUMERIC)),
    Endpoint("/api/v1/entitlements/metered", "GetMeteredEntitlement", _typed(FeatureKind.METERED)),
    Endpoint("/api/v1/entitlements/enum", "GetEnumEntitlement", _typed(FeatureKind.ENUM)),
    Endpoint("/api/v1/entitlements/check", "GetEntitlement", _generic),
    Endpoint("/api/v2/entitlements/check", "GetEntitlementV2", _v2),
    Endpoint("/api/v1/entitlements", "GetEntitlements", _state_v1),
    Endpoint("/api/v2/entitlements", "GetEntitlementsStateV2", _state_v2),
    Endpoint("/api/v1/entitlements/reload", "ReloadEntitlements", _reload),
    Endpoint("/api/v1/usage", "ReportUsage", _usage),
    Endpoint("/api/v1/usage/bulk", "ReportUsageBulk", _usage_bulk),
    Endpoint("/api/v1/events", "ReportEvents", _events),
)
OPENAPI_PATH = "/openapi.json"


def _json(status: int, body: Json) -> web.Response:
    try:
        text = json.dumps(body, allow_nan=False, ensure_ascii=False)
    except ValueError:  # a non-finite double: written as proto3 JSON does ("Infinity")
        text = json.dumps(_finite(body), allow_nan=False, ensure_ascii=False)
    return web.Response(status=status, text=text, content_type="application/json")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


class HttpApi:
    """The API's request handling; ``routes(accepting)`` gives the aiohttp routes.

    ``on_rpc(rpc, status code name, seconds)`` is called once per finished request, with
    the gRPC twin's name, as the servicer does (``sidecar_rpc_duration_seconds``).
    """

    def __init__(
        self,
        use_cases: UseCases,
        clock: Clock,
        on_rpc: Callable[[str, str, float], None] = lambda rpc, code, seconds: None,
    ) -> None:
        self._uc = use_cases
        self._clock = clock
        self._on_rpc = on_rpc
        self._openapi = build_openapi()

    def routes(self, accepting: Callable[[], bool] = lambda: True) -> list[web.RouteDef]:
        """``accepting()`` false (starting, draining) answers 503 before any use case."""
        routes = [web.post(e.path, self._handler(e, accepting)) for e in ENDPOINTS]
        routes.append(web.get(OPENAPI_PATH, self._openapi_document))
        return routes

    async def _openapi_document(self, _: web.Request) -> web.Response:
        return _json(200, self._openapi)

    def deadline(self, headers: Mapping[str, str]) -> Budget | None:
        """``X-Request-Timeout-Ms`` less the margin, on our monotonic clock; ``None`` when
        absent. Raises ``InvalidRequestError`` unless it is a positive integer."""
        raw = headers.get(TIMEOUT_HEADER)
        if raw is None:
            return None
        raw = raw.strip()
        if not _MILLISECONDS.fullmatch(raw) or int(raw) == 0:
            raise InvalidRequestError(TIMEOUT_HEADER, "must be a positive integer of milliseconds")
        return Budget.starting(self._clock.monotonic(), int(raw) / 1000 - DEADLINE_MARGIN_S)

    def _handler(self, endpoint: Endpoint, accepting: Callable[[], bool]):
        rpc = endpoint.rpc

        async def handle(request: web.Request) -> web.Response:
            if not accepting():
                return _json(UNAVAILABLE_STATUS, error_body(
                    "UNAVAILABLE", "the sidecar is not serving (starting or shutting down)"))
            started = perf_counter()
            code = "OK"
            try:
                deadline = self.deadline(request.headers)
                try:
                    raw = await request.read()
                except web.HTTPRequestEntityTooLarge:
                    code = "RESOURCE_EXHAUSTED"
                    return _json(TOO_LARGE_STATUS, error_body(
                        code, f"the request body is larger than {MAX_BODY_BYTES} bytes"))
                result = await endpoint.operation(self._uc, parse_body(raw), deadline)
                return _json(200, result)
            except asyncio.CancelledError:  # the client went away
                code = "CANCELLED"
                raise
            except Exception as error:  # noqa: BLE001 - this is the error policy
                reply = error_reply(rpc, error)
                if reply is None:
                    log.exception("unhandled error", extra={"rpc": rpc})
                    code = "INTERNAL"
                    return _json(*internal_reply())
                status, body = reply
                code = body["error"]["code"]
                log.info("request failed", extra={"rpc": rpc, "status": status,
                                                  "error": body["error"]["message"]})
                return _json(status, body)
            finally:
                self._on_rpc(rpc, code, perf_counter() - started)

        return handle
