"""GraphQL over WebSocket: the server side of ``graphql-transport-ws`` on ``GET /graphql``.

Same app and port as the HTTP routes. The flow, as upstream (graphql-ws 5.x) does it:

1. ``GET /graphql`` upgrade. A request that is not a WebSocket upgrade answers HTTP
   400. An upgrade that does not offer the subprotocol ``graphql-transport-ws`` is
   accepted, then closed with 4406 ``Subprotocol not acceptable`` (and noted in
   ``validation_failures``, kind ``header``). While :attr:`WsHub.refuse` is set,
   every upgrade answers HTTP 503.
2. ``{"type": "connection_init", "payload": {"headers": {"X-API-KEY": ...}}}``. The
   key is read from ``payload.headers`` (header names case-insensitive); a wrong or
   missing key, or any key while :attr:`WsHub.reject_key` is set, closes with 4401
   ``Invalid API key``; otherwise the server sends ``{"type": "connection_ack"}``.
   No ``connection_init`` within :attr:`WsHub.init_timeout_s` (10 s) closes with 4408;
   a second one closes with 4429.
3. ``{"id", "type": "subscribe", "payload": {"query", "operationName", "variables"}}``.
   Before the ack: close 4401 ``Unauthorized``. An id that is already active: close
   4409. The document is validated against the schema like a POST (failures go to
   ``validation_failures``, kind ``document``) and answered with
   ``{"id", "type": "error", "payload": [{"message", "extensions": {"code"}}]}``.
   Accepted root fields: :data:`SUBSCRIPTION_FIELDS`; another valid subscription (or a
   query/mutation) gets an ``error`` with code ``EMULATOR_UNSUPPORTED``.
4. ``ping`` → ``pong``; ``pong`` is accepted; ``complete`` ends that subscription.
   Non-JSON, binary or unknown messages close with 4400 (kind ``ws`` failure).
5. Pushes: ``{"id", "type": "next", "payload": {"data": {<key>: {...}}}}``, one per
   matching subscription of every acknowledged socket, shaped by the subscription's
   selection with :func:`stigg_emulator.gql.project` (aliases, fragments, nulls for
   missing fields), or whole when the emulator has ``project=False``.

Automatic pushes come from the store's change listener (:meth:`WsHub.on_change`),
unless :attr:`WsHub.push_enabled` is False:

- an entry set/replaced (``set_customer``) → ``entitlementsUpdatedV2`` with the
  entry's reason and ``entitlementsV2``;
- an entry removed (``remove_customer``) → the purge form of ``entitlementsUpdatedV2``
  (``entitlements: []``, ``accessDeniedReason: null``);
- the whole scenario replaced (``load_snapshot``, ``PUT /_emulator/customers``,
  ``reset()``) → one ``entitlementsUpdatedV2`` per entry, and the purge form for each
  entry that disappeared;
- usage of a feature or wallet changed (``reportUsage``/``reportUsageBulk`` applied,
  ``set_usage``) → ``usageUpdatedV2`` with ``entitlementReference {id, type:
  FEATURE|CREDIT}`` (a refId is looked up as a feature first, then as a wallet) and
  ``usage {currentUsage (null as 0), usageUpdatedAt (the clock, now), usagePeriodStart,
  usagePeriodEnd}``. A usage item charging a wallet pushes FEATURE, then CREDIT.

Explicit pushes (:meth:`WsHub.push_entitlements`, :meth:`WsHub.push_usage`,
:meth:`WsHub.publish_package`, :meth:`WsHub.push_raw`) ignore ``push_enabled``.

Faults: :attr:`WsHub.muted` (half-open: nothing is sent any more, neither frames, nor
``pong`` messages, nor WebSocket-level pongs; incoming messages are still processed and
frames produced meanwhile are lost), :attr:`WsHub.refuse`, :attr:`WsHub.reject_key`,
:meth:`WsHub.close_all` (close frame, or a TCP abort with ``abort=True``).

All frames of a socket go through one writer task, in order; a close is queued behind
the frames already queued. Incoming messages may be up to :data:`MAX_INCOMING_BYTES`;
outgoing frames have no size limit.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web
from graphql import FieldNode, FragmentDefinitionNode, OperationType
from multidict import CIMultiDict

from . import gql
from .recorder import pick_headers
from .scenario import ScenarioChange, normalize_resource
from .timeutil import iso_ms

if TYPE_CHECKING:
    from .emulator import StiggEmulator

WS_SUBPROTOCOL = "graphql-transport-ws"
SUBSCRIPTION_FIELDS = ("entitlementsUpdatedV2", "usageUpdatedV2", "packagePublished")
MIGRATION_TYPES = ("ALL_CUSTOMERS", "NEW_CUSTOMERS")
MAX_INCOMING_BYTES = 64 * 1024 * 1024
INIT_TIMEOUT_S = 10.0
CLOSE_WAIT_S = 2.0
"""How long a handler waits for its queued close handshake to finish."""

CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_SUBPROTOCOL = 4406
CLOSE_INIT_TIMEOUT = 4408
CLOSE_DUPLICATE_ID = 4409
CLOSE_TOO_MANY_INITS = 4429
INVALID_API_KEY = "Invalid API key"

Key = tuple[str, str | None]


@dataclass
class WsSubscription:
    """One active subscription of a socket."""

    id: str
    root_field: str
    response_key: str
    node: FieldNode
    fragments: dict[str, FragmentDefinitionNode]
    operation_name: str | None
    query: str | None

    def as_record(self) -> dict[str, Any]:
        return {"id": self.id, "operationName": self.operation_name,
                "rootField": self.root_field, "query": self.query}


class WsConnection:
    """One upgraded socket: its protocol state and its outgoing queue."""

    def __init__(self, hub: WsHub, request: web.Request, ws: web.WebSocketResponse) -> None:
        self.hub = hub
        self.request = request
        self.ws = ws
        self.init_received = False
        self.acked = False
        self.closing = False
        self.headers: dict[str, str] = {}
        self.subscriptions: dict[str, WsSubscription] = {}
        self.queue: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        self.init_timer: asyncio.TimerHandle | None = None

    @property
    def live(self) -> bool:
        return self.acked and not self.closing and bool(self.subscriptions)

    def send(self, message: dict[str, Any] | str) -> bool:
        """Queue a text frame; False when muted (the frame is lost) or closing."""
        if self.closing or self.ws.closed:
            return False
        if self.hub.muted:
            self.hub.frames_dropped += 1
            return False
        text = message if isinstance(message, str) else json.dumps(message)
        self.queue.put_nowait(("text", text))
        self.hub.frames_sent += 1
        return True

    def pong_frame(self, data: bytes) -> None:
        """Answer a WebSocket-level ping (not while muted)."""
        if not self.closing and not self.hub.muted:
            self.queue.put_nowait(("pong", data))

    def close(self, code: int, reason: str = "") -> None:
        """Queue a close frame behind the frames already queued (idempotent)."""
        if self.closing:
            return
        self.closing = True
        self.queue.put_nowait(("close", code, reason))

    def abort(self) -> None:
        """Drop the TCP connection without a close frame."""
        self.closing = True
        self.queue.put_nowait(("stop",))
        transport = self.request.transport
        if transport is not None:
            transport.abort()

    def summary(self) -> dict[str, Any]:
        return {"acked": self.acked, "closing": self.closing, "headers": dict(self.headers),
                "subscriptions": [s.as_record() for s in self.subscriptions.values()]}

    async def write_loop(self) -> None:
        while True:
            item = await self.queue.get()
            try:
                if item[0] == "text":
                    await self.ws.send_str(item[1])
                elif item[0] == "pong":
                    await self.ws.pong(item[1])
                elif item[0] == "stop":
                    return
                else:
                    await self.ws.close(code=item[1], message=item[2].encode())
                    return
            except (ConnectionError, RuntimeError):
                return


class WsHub:
    """The WebSocket side of one emulator: sockets, records, flags and pushes.

    Records (cleared by :meth:`clear_records`, i.e. by ``emu.reset()``):
    ``connections`` (accepted graphql-transport-ws upgrades), ``attempts`` (every
    ``GET /graphql``, refused ones included), ``subscriptions`` (accepted subscribes,
    ``{id, operationName, rootField, query}``), ``pings_received`` (``ping`` messages),
    ``inits`` (``{"headers": recorded headers, "accepted": bool}`` per
    ``connection_init``), ``pushes`` (``{"rootField", "customerId", ..., "frames"}`` per
    push), ``frames_sent`` and ``frames_dropped`` (lost while muted).
    """

    def __init__(self, emulator: StiggEmulator) -> None:
        self._emu = emulator
        self.open: list[WsConnection] = []
        self.push_enabled = True
        self.muted = False
        self.refuse = False
        self.reject_key = False
        self.init_timeout_s = INIT_TIMEOUT_S
        self.connections = 0
        self.attempts = 0
        self.subscriptions: list[dict[str, Any]] = []
        self.pings_received = 0
        self.inits: list[dict[str, Any]] = []
        self.pushes: list[dict[str, Any]] = []
        self.frames_sent = 0
        self.frames_dropped = 0
        self._known: set[Key] = set()
        self._suppressed = 0

    # -- records and faults ----------------------------------------------------------
    def clear_records(self) -> None:
        self.connections = 0
        self.attempts = 0
        self.subscriptions.clear()
        self.pings_received = 0
        self.inits.clear()
        self.pushes.clear()
        self.frames_sent = 0
        self.frames_dropped = 0

    def clear_faults(self) -> None:
        self.muted = self.refuse = self.reject_key = False

    def faults(self) -> dict[str, bool]:
        return {"muted": self.muted, "refuse": self.refuse, "rejectKey": self.reject_key}

    def live_clients(self) -> int:
        """Open, acknowledged sockets with at least one subscription."""
        return sum(1 for c in self.open if c.live)

    def close_all(self, code: int = 1011, reason: str = "", abort: bool = False) -> int:
        """Close every open socket (sent even while muted); returns how many."""
        connections = [c for c in self.open if not c.closing]
        for connection in connections:
            if abort:
                connection.abort()
            else:
                connection.close(code, reason)
        return len(connections)

    def state(self) -> dict[str, Any]:
        return {
            "connections": self.connections,
            "connectionAttempts": self.attempts,
            "liveClients": self.live_clients(),
            "pingsReceived": self.pings_received,
            "subscriptions": self.subscriptions,
            "inits": self.inits,
            "pushes": self.pushes,
            "framesSent": self.frames_sent,
            "framesDropped": self.frames_dropped,
            "pushEnabled": self.push_enabled,
            "faults": self.faults(),
            "clients": [c.summary() for c in self.open],
        }

    @contextmanager
    def suppressed(self) -> Iterator[None]:
        """Store changes inside this block push nothing."""
        self._suppressed += 1
        try:
            yield
        finally:
            self._suppressed -= 1

    # -- pushes ------------------------------------------------------------------------
    def on_change(self, change: ScenarioChange) -> None:
        """Store listener: turn a change into automatic pushes (see module docstring)."""
        store = self._emu.store
        active = self.push_enabled and not self._suppressed and bool(self.open)
        if change.kind == "reloaded":
            entries = store.dump()["customers"]
            keys = {(e["customerId"], e["resourceId"]) for e in entries}
            gone, self._known = self._known - keys, keys
            if active:
                for entry in entries:
                    state = entry["entitlementsState"]
                    self.push_entitlements(entry["customerId"], state["entitlementsV2"],
                                           entry["resourceId"], state.get("accessDeniedReason"))
                for customer_id, resource_id in sorted(gone, key=str):
                    self.push_entitlements(customer_id, [], resource_id)
            return
        assert change.customer_id is not None
        key = (change.customer_id, change.resource_id)
        if change.kind == "entitlements":
            self._known.add(key)
            if active:
                state = store.state(*key)
                self.push_entitlements(change.customer_id, state["entitlementsV2"],
                                       change.resource_id, state.get("accessDeniedReason"))
        elif change.kind == "removed":
            self._known.discard(key)
            if active:
                self.push_entitlements(change.customer_id, [], change.resource_id)
        elif change.kind == "usage" and active and change.ref is not None:
            self._push_stored_usage(change.customer_id, change.resource_id, change.ref)

    def push_entitlements(self, customer_id: str, entitlements: list[dict[str, Any]],
                          resource_id: str | None = None,
                          access_denied_reason: str | None = None) -> int:
        """Push ``entitlementsUpdatedV2`` without touching the store; returns frames."""
        rid = normalize_resource(resource_id)
        event = {**self._account(), "customerId": customer_id, "resourceId": rid,
                 "accessDeniedReason": access_denied_reason,
                 "entitlements": list(entitlements)}
        return self._broadcast("entitlementsUpdatedV2", event,
                               {"customerId": customer_id, "resourceId": rid,
                                "entitlements": len(entitlements),
                                "accessDeniedReason": access_denied_reason})

    def push_usage(self, customer_id: str, ref: str, current_usage: float,
                   resource_id: str | None = None, reference_type: str = "FEATURE",
                   usage_period_start: str | None = None,
                   usage_period_end: str | None = None,
                   usage_updated_at: str | None = None) -> int:
        """Push ``usageUpdatedV2`` without touching the store; returns frames.
        ``usage_updated_at`` defaults to the clock's now."""
        rid = normalize_resource(resource_id)
        event = {**self._account(), "customerId": customer_id, "resourceId": rid,
                 "entitlementReference": {"id": ref, "type": reference_type},
                 "usage": {"currentUsage": current_usage,
                           "usageUpdatedAt": usage_updated_at or iso_ms(self._emu.clock()),
                           "usagePeriodStart": usage_period_start,
                           "usagePeriodEnd": usage_period_end}}
        return self._broadcast("usageUpdatedV2", event,
                               {"customerId": customer_id, "resourceId": rid, "ref": ref,
                                "type": reference_type, "currentUsage": current_usage})

    def publish_package(self, migration_type: str = "ALL_CUSTOMERS",
                        package_ref_id: str = "plan-x", package_type: str = "Plan",
                        package_version: int = 2) -> int:
        """Push ``packagePublished``; returns frames."""
        if migration_type not in MIGRATION_TYPES:
            raise ValueError(f"migration_type must be one of {MIGRATION_TYPES}")
        event = {**self._account(), "packageType": package_type,
                 "packageRefId": package_ref_id, "packageVersion": int(package_version),
                 "migrationType": migration_type}
        return self._broadcast("packagePublished", event,
                               {"packageRefId": package_ref_id,
                                "migrationType": migration_type})

    def push_raw(self, message: dict[str, Any] | str) -> int:
        """Send ``message`` (JSON-encoded if a dict) as is to every open socket, acked
        or not; returns how many sockets it was queued on."""
        text = message if isinstance(message, str) else json.dumps(message)
        sent = sum(1 for c in list(self.open) if c.send(text))
        self.pushes.append({"rootField": None, "raw": True, "bytes": len(text),
                            "frames": sent})
        return sent

    def _push_stored_usage(self, customer_id: str, resource_id: str | None, ref: str) -> None:
        store = self._emu.store
        item = store.find_feature(customer_id, resource_id, ref)
        reference_type = "FEATURE"
        if item is None:
            item = store.find_credit(customer_id, resource_id, ref)
            reference_type = "CREDIT"
        if item is None:
            return
        self.push_usage(customer_id, ref, item.get("currentUsage") or 0, resource_id,
                        reference_type, item.get("usagePeriodStart"),
                        item.get("usagePeriodEnd"))

    def _account(self) -> dict[str, Any]:
        return {"accountId": self._emu.account_id, "environmentId": self._emu.environment_id}

    def _broadcast(self, root_field: str, event: dict[str, Any],
                   summary: dict[str, Any]) -> int:
        sent = 0
        for connection in list(self.open):
            if not connection.acked:
                continue
            for subscription in list(connection.subscriptions.values()):
                if subscription.root_field != root_field:
                    continue
                data = {subscription.response_key: self._shape(subscription, event)}
                if connection.send({"id": subscription.id, "type": "next",
                                    "payload": {"data": data}}):
                    sent += 1
        self.pushes.append({"rootField": root_field, **summary, "frames": sent})
        return sent

    def _shape(self, subscription: WsSubscription, event: dict[str, Any]) -> Any:
        emu = self._emu
        if not emu.project or subscription.node.selection_set is None:
            return copy.deepcopy(event)
        subscription_type = emu.schema.subscription_type
        assert subscription_type is not None
        field_type = subscription_type.fields[subscription.root_field].type
        return gql.project(emu.schema, event, [subscription.node.selection_set],
                           field_type, subscription.fragments)

    # -- the socket handler ------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        """``GET /graphql``: upgrade and serve graphql-transport-ws until closed."""
        self.attempts += 1
        if self.refuse:
            return _json_error(503, "Emulated: WebSocket upgrades refused", "HTTP_503")
        ws = web.WebSocketResponse(protocols=(WS_SUBPROTOCOL,), autoping=False,
                                   max_msg_size=MAX_INCOMING_BYTES)
        ready = ws.can_prepare(request)
        if not ready.ok:
            return _json_error(400, "GET /graphql must be a WebSocket upgrade "
                                    f"(subprotocol {WS_SUBPROTOCOL})", "BAD_REQUEST")
        await ws.prepare(request)
        if ready.protocol != WS_SUBPROTOCOL:
            offered = request.headers.get("Sec-WebSocket-Protocol")
            self._emu.record_validation_failure(
                "header", None, [f"Sec-WebSocket-Protocol must offer {WS_SUBPROTOCOL} "
                                 f"(got {offered!r})"])
            await ws.close(code=CLOSE_SUBPROTOCOL, message=b"Subprotocol not acceptable")
            return ws
        self.connections += 1
        connection = WsConnection(self, request, ws)
        self.open.append(connection)
        writer = asyncio.create_task(connection.write_loop())
        connection.init_timer = asyncio.get_running_loop().call_later(
            self.init_timeout_s, connection.close, CLOSE_INIT_TIMEOUT,
            "Connection initialisation timeout")
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._on_text(connection, message.data)
                elif message.type == WSMsgType.PING:
                    connection.pong_frame(message.data)
                elif message.type == WSMsgType.BINARY:
                    self._violation(connection, CLOSE_BAD_REQUEST, "Invalid message received",
                                    "binary frame")
                elif message.type == WSMsgType.ERROR:
                    break
        finally:
            connection.init_timer.cancel()
            if connection in self.open:
                self.open.remove(connection)
            if connection.closing and not writer.done():
                try:
                    await asyncio.wait_for(asyncio.shield(writer), CLOSE_WAIT_S)
                except (asyncio.TimeoutError, ConnectionError, RuntimeError):
                    pass
            writer.cancel()
        return ws

    def _on_text(self, connection: WsConnection, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            self._violation(connection, CLOSE_BAD_REQUEST, "Invalid message received",
                            "not a JSON object with a string \"type\"")
            return
        kind = message["type"]
        if kind == "connection_init":
            self._on_init(connection, message)
        elif kind == "ping":
            self.pings_received += 1
            connection.send({"type": "pong"})
        elif kind == "pong":
            pass
        elif kind == "subscribe":
            self._on_subscribe(connection, message)
        elif kind == "complete":
            sub_id = message.get("id")
            if isinstance(sub_id, str):
                connection.subscriptions.pop(sub_id, None)
        else:
            self._violation(connection, CLOSE_BAD_REQUEST, "Invalid message received",
                            f"unknown message type {kind!r}")

    def _on_init(self, connection: WsConnection, message: dict[str, Any]) -> None:
        if connection.init_received:
            self._violation(connection, CLOSE_TOO_MANY_INITS,
                            "Too many initialisation requests", "repeated connection_init")
            return
        connection.init_received = True
        if connection.init_timer is not None:
            connection.init_timer.cancel()
        payload = message.get("payload")
        raw_headers = payload.get("headers") if isinstance(payload, dict) else None
        headers = CIMultiDict({str(k): str(v) for k, v in raw_headers.items()}
                              if isinstance(raw_headers, dict) else {})
        connection.headers = pick_headers(headers)
        accepted = headers.get("X-API-KEY") == self._emu.api_key and not self.reject_key
        self.inits.append({"headers": dict(connection.headers), "accepted": accepted})
        if not accepted:
            connection.close(CLOSE_UNAUTHORIZED, INVALID_API_KEY)
            return
        connection.acked = True
        connection.send({"type": "connection_ack"})

    def _on_subscribe(self, connection: WsConnection, message: dict[str, Any]) -> None:
        if not connection.acked:
            self._violation(connection, CLOSE_UNAUTHORIZED, "Unauthorized",
                            "subscribe before connection_ack")
            return
        sub_id = message.get("id")
        payload = message.get("payload")
        if not isinstance(sub_id, str) or not sub_id or not isinstance(payload, dict):
            self._violation(connection, CLOSE_BAD_REQUEST, "Invalid message received",
                            "subscribe needs a string \"id\" and an object \"payload\"")
            return
        if sub_id in connection.subscriptions:
            self._violation(connection, CLOSE_DUPLICATE_ID,
                            f"Subscriber for {sub_id} already exists",
                            f"duplicate subscription id {sub_id!r}")
            return
        parsed = gql.parse_request(self._emu.schema, payload)
        if parsed.errors:
            self._emu.record_validation_failure("document", parsed.label, parsed.errors,
                                                parsed.query, parsed.raw_variables)
            connection.send(_error_frame(sub_id, parsed.error_code or "GRAPHQL_VALIDATION_FAILED",
                                         parsed.errors))
            return
        assert parsed.operation is not None
        roots = parsed.root_fields
        if parsed.operation.operation != OperationType.SUBSCRIPTION or len(roots) != 1:
            connection.send(_error_frame(sub_id, "EMULATOR_UNSUPPORTED", [
                "The emulator's WebSocket serves single-field subscriptions only"]))
            return
        node = roots[0]
        if node.name.value not in SUBSCRIPTION_FIELDS:
            connection.send(_error_frame(sub_id, "EMULATOR_UNSUPPORTED", [
                f"The emulator does not implement Subscription.{node.name.value}"]))
            return
        operation_name = (parsed.operation.name.value if parsed.operation.name is not None
                          else parsed.operation_name)
        subscription = WsSubscription(
            id=sub_id, root_field=node.name.value,
            response_key=node.alias.value if node.alias else node.name.value,
            node=node, fragments=parsed.fragments, operation_name=operation_name,
            query=parsed.query)
        connection.subscriptions[sub_id] = subscription
        self.subscriptions.append(subscription.as_record())

    def _violation(self, connection: WsConnection, code: int, reason: str,
                   detail: str) -> None:
        self._emu.record_validation_failure("ws", None, [f"{detail} (closed {code})"])
        connection.close(code, reason)

    async def shutdown(self, app: web.Application | None = None) -> None:
        """Close every socket with 1001 and wait briefly (aiohttp ``on_shutdown``)."""
        self.close_all(1001, "Server shutting down")
        deadline = asyncio.get_running_loop().time() + CLOSE_WAIT_S
        while self.open and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)


def _error_frame(sub_id: str, code: str, messages: list[str]) -> dict[str, Any]:
    return {"id": sub_id, "type": "error",
            "payload": [{"message": m, "extensions": {"code": code}} for m in messages]}


def _json_error(status: int, message: str, code: str) -> web.Response:
    return web.json_response({"errors": [{"message": message, "extensions": {"code": code}}]},
                             status=status)
