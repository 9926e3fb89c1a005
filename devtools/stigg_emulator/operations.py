"""Root-field resolvers for the GraphQL operations the sidecar uses.

Supported root fields (arguments as in the vendored schema):

- ``entitlementsState(query: FetchEntitlementsQuery!)``: the stored state of
  (``query.customerId``, ``query.resourceId``), or the in-band CustomerNotFound state.
- ``sdkConfiguration``: ``{"isWidgetWatermarkEnabled": false, ...}`` (a key check).
- ``reportUsage(input: ReportUsageInput!)``: one measurement (see :mod:`.usage`).
- ``reportUsageBulk(input: ReportUsageBulkInput!)``: a list of measurements; more
  than :data:`MAX_BULK_USAGES` usages fail with ``BadUserInput``.
- ``reportEvent(events: UsageEventsReportInput!)``: records events; more than
  :data:`MAX_EVENTS` fail with ``BadUserInput``; returns null.

Any other root field that the schema allows fails with code ``EMULATOR_UNSUPPORTED``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLSchema, OperationType

from . import gql
from .gql import OperationError, ParsedRequest
from .scenario import ScenarioStore, normalize_resource
from .usage import EventLog, UsageLedger

MAX_BULK_USAGES = 100
MAX_EVENTS = 1000

SDK_CONFIGURATION = {"isWidgetWatermarkEnabled": False, "sentryDsn": None,
                     "showWatermark": False}


@dataclass
class Backend:
    """What resolvers read and write."""

    store: ScenarioStore
    ledger: UsageLedger
    events: EventLog


Resolver = Callable[[Backend, dict[str, Any]], Any]


def _entitlements_state(backend: Backend, args: dict[str, Any]) -> Any:
    query = args["query"]
    return backend.store.state(query["customerId"], query.get("resourceId"))


def _sdk_configuration(backend: Backend, args: dict[str, Any]) -> Any:
    return dict(SDK_CONFIGURATION)


def _report_usage(backend: Backend, args: dict[str, Any]) -> Any:
    return backend.ledger.report([args["input"]])[0]


def _report_usage_bulk(backend: Backend, args: dict[str, Any]) -> Any:
    return backend.ledger.report(list(args["input"]["usages"]), max_items=MAX_BULK_USAGES)


def _report_event(backend: Backend, args: dict[str, Any]) -> Any:
    backend.events.report(list(args["events"]["usageEvents"]), max_items=MAX_EVENTS)
    return None


RESOLVERS: dict[str, Resolver] = {
    "entitlementsState": _entitlements_state,
    "sdkConfiguration": _sdk_configuration,
    "reportUsage": _report_usage,
    "reportUsageBulk": _report_usage_bulk,
    "reportEvent": _report_event,
}


def execute(schema: GraphQLSchema, parsed: ParsedRequest, backend: Backend,
            project: bool = True) -> dict[str, Any]:
    """Resolve every root field of a valid request; returns the ``data`` object.

    Raises OperationError for an in-band GraphQL error. With ``project=False`` the
    stored objects are returned whole instead of shaped by the selection.
    """
    assert parsed.operation is not None
    if parsed.operation.operation == OperationType.SUBSCRIPTION:
        raise OperationError("EMULATOR_UNSUPPORTED",
                             "Subscriptions are served over WebSocket, not POST")
    parent = gql.root_type(schema, parsed.operation)
    data: dict[str, Any] = {}
    for node in parsed.root_fields:
        name = node.name.value
        key = node.alias.value if node.alias else name
        if name == "__typename":
            data[key] = parent.name
            continue
        resolver = RESOLVERS.get(name)
        if resolver is None:
            raise OperationError("EMULATOR_UNSUPPORTED",
                                 f"The emulator does not implement {parent.name}.{name}")
        value = resolver(backend, gql.arguments(schema, parsed, node))
        if project and node.selection_set is not None:
            value = gql.project(schema, value, [node.selection_set],
                                parent.fields[name].type, parsed.fragments)
        data[key] = value
    return data


def addressed_customer(schema: GraphQLSchema,
                       parsed: ParsedRequest) -> tuple[str | None, str | None]:
    """(customerId, resourceId) a request is about, for request records.

    For bulk writes, only when every item names the same pair; else (None, None).
    """
    pairs: set[tuple[str | None, str | None]] = set()
    for node in parsed.root_fields:
        try:
            args = gql.arguments(schema, parsed, node)
        except Exception:  # noqa: BLE001 - records are best effort
            continue
        for item in _addressed_items(node.name.value, args):
            pairs.add((item.get("customerId"), normalize_resource(item.get("resourceId"))))
    return pairs.pop() if len(pairs) == 1 else (None, None)


def _addressed_items(name: str, args: dict[str, Any]) -> list[dict[str, Any]]:
    if name == "entitlementsState":
        return [args.get("query") or {}]
    if name == "reportUsage":
        return [args.get("input") or {}]
    if name == "reportUsageBulk":
        return list((args.get("input") or {}).get("usages") or [])
    if name == "reportEvent":
        return list((args.get("events") or {}).get("usageEvents") or [])
    return []
