"""The aiohttp application: upstream routes (Edge, GraphQL) plus control routes.

Routes:

- ``GET  /v1/c/{customerId}/entitlements-state.json[?resourceId=R]``: Edge.
- ``POST /graphql``: GraphQL over HTTP.
- ``GET  /graphql``: GraphQL over WebSocket, subprotocol ``graphql-transport-ws``
  (see :mod:`stigg_emulator.ws`); its sockets are closed with 1001 on shutdown.
- ``/_emulator/...``: control (see :mod:`stigg_emulator.control`).

Every upstream request goes through :meth:`UpstreamRoutes._serve`: record → fault →
API key check → answer. Error bodies are ``{"errors": [{"message": ...,
"extensions": {"code": ...}}]}``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from aiohttp import web

from . import control, gql, operations
from .faults import Fault
from .gql import OperationError
from .recorder import RequestRecord, pick_headers

if TYPE_CHECKING:
    from .emulator import StiggEmulator

EDGE_PREFIX = "/v1/c/"
EDGE_SUFFIX = "/entitlements-state.json"

Answer = tuple[int, dict[str, Any], dict[str, str]]
"""(HTTP status, JSON body, extra headers)."""


def error_body(message: str, code: str, trace_id: str | None = None) -> dict[str, Any]:
    extensions: dict[str, Any] = {"code": code}
    if trace_id:
        extensions["traceId"] = trace_id
    return {"errors": [{"message": message, "extensions": extensions}]}


def build_app(emulator: StiggEmulator) -> web.Application:
    """Create the application serving ``emulator``."""
    app = web.Application(client_max_size=64 * 1024 * 1024)
    routes = UpstreamRoutes(emulator)
    app.router.add_get("/v1/c/{tail:.+}", routes.edge)
    app.router.add_post("/graphql", routes.graphql)
    app.router.add_get("/graphql", emulator.ws.handle, allow_head=False)
    app.on_shutdown.append(emulator.ws.shutdown)
    control.add_routes(app, emulator)
    return app


class UpstreamRoutes:
    """Handlers for the upstream-facing routes."""

    def __init__(self, emulator: StiggEmulator) -> None:
        self._emu = emulator

    # -- Edge ----------------------------------------------------------------------
    async def edge(self, request: web.Request) -> web.StreamResponse:
        raw_path = request.rel_url.raw_path
        segment = raw_path[len(EDGE_PREFIX):-len(EDGE_SUFFIX)]
        if (not raw_path.startswith(EDGE_PREFIX) or not raw_path.endswith(EDGE_SUFFIX)
                or not segment or "/" in segment):
            return web.json_response(error_body("Not found", "NOT_FOUND"), status=404)
        customer_id = unquote(segment)
        resource_id = request.rel_url.query.get("resourceId") or None
        record = RequestRecord("edge", "entitlementsState", ["entitlementsState"],
                               customer_id, resource_id, pick_headers(request.headers))

        async def produce() -> Answer:
            version = request.headers.get("X-API-VERSION")
            if version != "1":
                message = f"X-API-VERSION must be 1 (got {version!r})"
                self._emu.record_validation_failure("header", "entitlementsState", [message])
                return 400, error_body(message, "BAD_REQUEST"), {}
            state = self._emu.store.state(customer_id, resource_id)
            return 200, {"data": {"entitlementsState": state}}, {}

        return await self._serve(request, record, frozenset({"entitlementsState"}), produce)

    # -- GraphQL -------------------------------------------------------------------
    async def graphql(self, request: web.Request) -> web.StreamResponse:
        emu = self._emu
        headers = pick_headers(request.headers)
        try:
            body = json.loads(await request.text())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            record = RequestRecord("graphql", None, [], headers=headers)
            emu.record_validation_failure("body", None, ["request body must be a JSON object"])

            async def bad_body() -> Answer:
                return 400, error_body("request body must be a JSON object", "BAD_REQUEST"), {}

            return await self._serve(request, record, frozenset(), bad_body)

        parsed = gql.parse_request(emu.schema, body)
        if not parsed.errors and request.content_type != "application/json":
            parsed.fail("BAD_REQUEST",
                        [f"Content-Type must be application/json (got {request.content_type!r})"])
        if parsed.errors:
            kind = "header" if parsed.error_code == "BAD_REQUEST" else "document"
            emu.record_validation_failure(kind, parsed.label, parsed.errors, parsed.query,
                              parsed.raw_variables)
            customer = (None, None)
        else:
            customer = operations.addressed_customer(emu.schema, parsed)
        record = RequestRecord("graphql", parsed.label, parsed.root_field_names,
                               customer[0], customer[1], headers, parsed.raw_variables)

        async def produce() -> Answer:
            if parsed.errors:
                status = 400 if parsed.error_code == "BAD_REQUEST" else 200
                body = {"errors": [{"message": m, "extensions": {"code": parsed.error_code}}
                                   for m in parsed.errors]}
                return status, body, {}
            try:
                data = operations.execute(emu.schema, parsed, emu.backend, emu.project)
            except OperationError as error:
                body = error_body(error.message, error.code)
                body["errors"][0]["path"] = parsed.root_field_names[:1]
                body["data"] = None
                return 200, body, {}
            return 200, {"data": data}, {}

        return await self._serve(request, record, parsed.names, produce)

    # -- shared flow ---------------------------------------------------------------
    async def _serve(self, request: web.Request, record: RequestRecord,
                     names: frozenset[str],
                     produce: Callable[[], Awaitable[Answer]]) -> web.StreamResponse:
        emu = self._emu
        emu.log.add(record)
        fault = emu.faults.take(record.kind, names)
        record.fault = fault.mode if fault else None
        if fault is not None and fault.mode != "apply_then_drop":
            early = await self._fault_answer(fault)
            if early == "drop":
                return _drop(request, record)
            if early == "malformed":
                return _malformed(request, record)
            if early is not None:
                return _finish(record, *early)
        if request.headers.get("X-API-KEY") != emu.api_key:
            return _finish(record, 401, error_body("Unauthorized: invalid API key",
                                                   "Unauthenticated"), {})
        answer = await produce()
        if fault is not None and fault.mode == "apply_then_drop":
            await asyncio.sleep(fault.delay_ms / 1000)
            return _drop(request, record)
        return _finish(record, *answer)

    @staticmethod
    async def _fault_answer(fault: Fault) -> Answer | str | None:
        """An early answer for ``fault``, ``"drop"``, or None to continue."""
        if fault.mode == "down":
            return "drop"
        if fault.mode == "malformed":
            return "malformed"
        if fault.mode == "slow":
            await asyncio.sleep(fault.delay_ms / 1000)
            return None
        if fault.mode == "unauthorized":
            return 401, error_body("Unauthorized", "Unauthenticated"), {}
        if fault.mode == "status":
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = _format_seconds(fault.retry_after)
            return fault.status, error_body(f"Emulated HTTP {fault.status}",
                                            f"HTTP_{fault.status}"), headers
        if fault.mode == "graphql_error":
            body = error_body(fault.message, fault.code, fault.trace_id)
            body["data"] = None
            return 200, body, {}
        return None


def _finish(record: RequestRecord, status: int, body: dict[str, Any],
            headers: dict[str, str]) -> web.Response:
    record.status = status
    return web.json_response(body, status=status, headers=headers)


def _drop(request: web.Request, record: RequestRecord) -> web.Response:
    """Abort the connection; the returned response is never written."""
    record.status = None
    transport = request.transport
    if transport is not None:
        transport.abort()
    return web.Response(status=204)


def _malformed(request: web.Request, record: RequestRecord) -> web.Response:
    """Write a response no HTTP client accepts, then close; the returned one is never written."""
    record.status = None
    transport = request.transport
    if transport is not None:
        transport.write(b"HTTP/1.1 2OO NOT-A-STATUS\r\nthis is not a header line\r\n\r\n")
        transport.close()
    return web.Response(status=204)


def _format_seconds(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)
