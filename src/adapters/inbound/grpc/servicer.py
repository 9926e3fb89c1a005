"""The thin gRPC servicer: map the request, await a use case, map the answer."""
from __future__ import annotations

import functools
import logging
from time import perf_counter
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import grpc
from google.protobuf import empty_pb2

from adapters.inbound.grpc import mapping
from adapters.inbound.grpc.drain import DrainGate
from adapters.inbound.grpc.errors import GENERIC_INTERNAL_MESSAGE, status_for
from adapters.inbound.grpc.response_memo import DEFAULT_MAX_ENTRIES, ResponseMemo
from adapters.inbound.use_cases import UseCases
from domain.model.budget import Budget
from domain.model.kinds import FeatureKind
from ports.clock import Clock
from sidecarpb.v1 import sidecar_pb2 as pb
from sidecarpb.v1 import sidecar_pb2_grpc

log = logging.getLogger("sidecar.grpc")

#: Margin kept from the caller's deadline so a fallback answer still reaches it (s).
DEADLINE_MARGIN_S = 0.020


@dataclass(frozen=True, slots=True)
class UndecodableRequest:
    """Stands in for a request whose bytes did not parse (see server.sidecar_handlers)."""

    problem: str


Handler = Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[Any]]


def _error_policy(rpc: str) -> Callable[[Handler], Handler]:
    """Translate failures into statuses (the one table in errors.py); bugs → ``INTERNAL``."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
            gate: DrainGate = self.gate
            if isinstance(request, UndecodableRequest):
                log.warning("undecodable request", extra={"rpc": rpc, "error": request.problem})
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                    f"request is not a valid {rpc}Request message")
            if not gate.enter():
                await context.abort(grpc.StatusCode.UNAVAILABLE, "the sidecar is shutting down")
            started = perf_counter()
            code = "OK"
            try:
                return await handler(self, request, context)
            except Exception as error:  # noqa: BLE001 - this is the error policy
                reply = status_for(rpc, error)
                code = reply.code.name if reply is not None else "INTERNAL"
                if reply is None:
                    log.exception("unhandled error", extra={"rpc": rpc})
                    await context.abort(grpc.StatusCode.INTERNAL, GENERIC_INTERNAL_MESSAGE)
                    raise  # abort raises; keeps type checkers honest
                if reply.trailing_metadata:
                    context.set_trailing_metadata(reply.trailing_metadata)
                log.info("rpc failed", extra={"rpc": rpc, "status": reply.code.name,
                                              "error": reply.message})
                await context.abort(reply.code, reply.message)
            finally:
                gate.leave()
                self.on_rpc(rpc, code, perf_counter() - started)

        return guarded

    return wrap


class SidecarServicer(sidecar_pb2_grpc.SidecarServiceServicer):
    def __init__(
        self,
        use_cases: UseCases,
        clock: Clock,
        on_rpc: Callable[[str, str, float], None] = lambda rpc, code, seconds: None,
        memo_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        """``on_rpc(rpc, status code name, seconds)`` is called once per finished RPC.
        ``memo_entries`` bounds the response memo per read RPC (0 turns it off)."""
        self._uc = use_cases
        self._clock = clock
        self.gate = DrainGate()
        self.on_rpc = on_rpc
        self._memo = ResponseMemo(use_cases.typed.still_current, memo_entries)

    def _deadline(self, context: grpc.aio.ServicerContext) -> Budget | None:
        """The caller's deadline less a margin, on our monotonic clock (upstream-api.md §6)."""
        remaining = context.time_remaining()
        if remaining is None:
            return None
        return Budget.starting(self._clock.monotonic(), remaining - DEADLINE_MARGIN_S)

    async def _read(self, rpc: str, request: Any, answer: Callable[[], Awaitable[tuple[Any, Any]]],
                    to_response: Callable[[Any], Any]) -> Any:
        """A read RPC through the response memo (``response_memo``): a stored response
        while the domain says it is still the answer, else ``answer()`` mapped."""
        raw = request.SerializeToString()
        response = self._memo.lookup(rpc, raw)
        if response is None:
            result, freshness = await answer()
            response = to_response(result)
            self._memo.store(rpc, raw, freshness, response)
        return response

    def _typed(self, kind: FeatureKind, rpc: str, request: Any, to_query: Callable[[Any], Any],
               to_response: Callable[[Any], Any], context: Any) -> Awaitable[Any]:
        return self._read(rpc, request, lambda: self._uc.typed.answer(
            kind, mapping.customer_key(request), to_query(request), self._deadline(context)),
            to_response)

    @_error_policy("GetBooleanEntitlement")
    async def GetBooleanEntitlement(self, request, context):  # noqa: N802 - generated name
        return await self._typed(FeatureKind.BOOLEAN, "GetBooleanEntitlement", request,
                                 mapping.boolean_query, mapping.boolean_response, context)

    @_error_policy("GetNumericEntitlement")
    async def GetNumericEntitlement(self, request, context):  # noqa: N802
        return await self._typed(FeatureKind.NUMERIC, "GetNumericEntitlement", request,
                                 mapping.numeric_query, mapping.numeric_response, context)

    @_error_policy("GetMeteredEntitlement")
    async def GetMeteredEntitlement(self, request, context):  # noqa: N802
        return await self._typed(FeatureKind.METERED, "GetMeteredEntitlement", request,
                                 mapping.metered_query, mapping.metered_response, context)

    @_error_policy("GetEnumEntitlement")
    async def GetEnumEntitlement(self, request, context):  # noqa: N802
        return await self._typed(FeatureKind.ENUM, "GetEnumEntitlement", request,
                                 mapping.enum_query, mapping.enum_response, context)

    @_error_policy("GetEntitlement")
    async def GetEntitlement(self, request, context):  # noqa: N802
        return await self._read("GetEntitlement", request, lambda: self._uc.generic.answer(
            mapping.customer_key(request), mapping.generic_query(request.feature_id, request),
            self._deadline(context), rpc="GetEntitlement"), mapping.generic_response)

    @_error_policy("GetEntitlementV2")
    async def GetEntitlementV2(self, request, context):  # noqa: N802
        return await self._read("GetEntitlementV2", request, lambda: self._uc.v2.answer(
            mapping.customer_key(request), mapping.generic_query(request.feature_id, request),
            request.currency_id, self._deadline(context)), mapping.v2_response)

    @_error_policy("GetEntitlements")
    async def GetEntitlements(self, request, context):  # noqa: N802
        return await self._read("GetEntitlements", request, lambda: self._uc.state.answer(
            mapping.customer_key(request), self._deadline(context), rpc="GetEntitlements"),
            mapping.state_v1_response)

    @_error_policy("GetEntitlementsStateV2")
    async def GetEntitlementsStateV2(self, request, context):  # noqa: N802
        return await self._read("GetEntitlementsStateV2", request, lambda: self._uc.state.answer(
            mapping.customer_key(request), self._deadline(context), rpc="GetEntitlementsStateV2"),
            mapping.state_v2_response)

    @_error_policy("ReloadEntitlements")
    async def ReloadEntitlements(self, request, context):  # noqa: N802
        exists = await self._uc.reload.execute(mapping.customer_key(request), self._deadline(context))
        return pb.ReloadEntitlementsResponse(entitled_entity_exists=exists)

    @_error_policy("ReportUsage")
    async def ReportUsage(self, request, context):  # noqa: N802
        acks = await self._uc.usage.execute([mapping.usage_report(request)], self._deadline(context))
        return mapping.usage_response(acks[0])

    @_error_policy("ReportUsageBulk")
    async def ReportUsageBulk(self, request, context):  # noqa: N802
        acks = await self._uc.usage.execute(
            mapping.usage_reports(request), self._deadline(context), field_prefix="usages"
        )
        return mapping.usage_bulk_response(acks)

    @_error_policy("ReportEvents")
    async def ReportEvents(self, request, context):  # noqa: N802
        await self._uc.events.execute(mapping.events(request), self._deadline(context))
        return empty_pb2.Empty()
