"""``StiggEmulator``: a loopback Stigg upstream (Edge, GraphQL over HTTP and over
WebSocket) for tests and demos."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from aiohttp import web

from .app import build_app
from .faults import Fault, FaultPlan
from .gql import SCHEMA_PATH, load_schema
from .operations import Backend
from .recorder import RequestLog, RequestRecord
from .scenario import ScenarioStore, normalize_resource, read_snapshot
from .timeutil import Clock, system_clock
from .usage import EventLog, UsageLedger
from .ws import WsHub

DEFAULT_ENVIRONMENT_ID = "00000000-0000-4000-8000-000000000001"
DEFAULT_ACCOUNT_ID = "emulator-account"
SHUTDOWN_TIMEOUT_S = 0.5
"""How long :meth:`StiggEmulator.stop` waits for in-flight (e.g. slowed) requests."""

_EMPTY_SNAPSHOT: dict[str, Any] = {"format": 1, "customers": []}


class StiggEmulator:
    """A real HTTP server on loopback speaking Stigg's Edge and GraphQL shapes.

    ``scenario`` is a snapshot dict or a path to a snapshot JSON file (format in the
    package docstring); it is also the baseline that :meth:`reset` restores.
    ``clock`` returns epoch milliseconds and stamps usage measurements (default: real
    time). ``project=False`` answers GraphQL (HTTP and WebSocket pushes) with whole
    stored objects instead of shaping them by the query's selection.
    ``environment_id`` and ``account_id`` fill the ``environmentId`` / ``accountId``
    fields of measurements and WebSocket pushes.

    The WebSocket side (``GET /graphql``, graphql-transport-ws) is described in
    :mod:`stigg_emulator.ws`; its methods and records here are prefixed ``ws_``, plus
    :meth:`purge_customer`, :meth:`publish_package`, :meth:`push_entitlements`,
    :meth:`push_usage` and :meth:`push_raw`.

    Use ``async with StiggEmulator(...) as emu:`` or ``await emu.start()`` /
    ``await emu.stop()``. All methods must be called on the server's event loop.
    """

    def __init__(self, api_key: str = "test-key",
                 scenario: dict[str, Any] | str | Path | None = None, *,
                 clock: Clock | None = None,
                 environment_id: str = DEFAULT_ENVIRONMENT_ID,
                 account_id: str = DEFAULT_ACCOUNT_ID,
                 project: bool = True,
                 schema_path: str | Path = SCHEMA_PATH) -> None:
        self.api_key = api_key
        self.clock: Clock = clock or system_clock
        self.project = project
        self.environment_id = environment_id
        self.account_id = account_id
        self.schema = load_schema(str(schema_path))
        self.store = ScenarioStore()
        self.ws = WsHub(self)
        self.store.add_listener(self.ws.on_change)
        self.ledger = UsageLedger(self.store, lambda: self.clock(), environment_id)
        self.event_log = EventLog()
        self.faults = FaultPlan()
        self.log = RequestLog()
        self.validation_failures: list[dict[str, Any]] = []
        self.backend = Backend(self.store, self.ledger, self.event_log)
        self._baseline: dict[str, Any] = _EMPTY_SNAPSHOT
        self._runner: web.AppRunner | None = None
        self._host: str | None = None
        self._port: int | None = None
        self.load_snapshot(scenario if scenario is not None else _EMPTY_SNAPSHOT)

    # -- lifecycle -----------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> StiggEmulator:
        """Listen on ``host:port`` (0 picks a free port); returns self."""
        if self._runner is not None:
            raise RuntimeError("emulator already started")
        runner = web.AppRunner(build_app(self), access_log=None,
                               shutdown_timeout=SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._host = host
        self._port = runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        """Stop listening and close connections (idempotent)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> StiggEmulator:
        if self._runner is None:
            await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("emulator not started")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT``: both the API_URL and the EDGE_API_URL to configure."""
        return f"http://{self._host}:{self.port}"

    @property
    def graphql_url(self) -> str:
        return f"{self.base_url}/graphql"

    @property
    def ws_url(self) -> str:
        """``ws://HOST:PORT/graphql``: the WebSocket endpoint (same port)."""
        return f"ws://{self._host}:{self.port}/graphql"

    # -- scenario ------------------------------------------------------------------
    def load_snapshot(self, snapshot: dict[str, Any] | str | Path) -> None:
        """Replace the scenario; it becomes the baseline :meth:`reset` restores."""
        data = read_snapshot(snapshot)
        self.store.load(data)
        self._baseline = copy.deepcopy(data)

    def snapshot(self) -> dict[str, Any]:
        """The current scenario (with applied usage) as a snapshot dict."""
        return self.store.dump()

    def set_customer(self, customer_id: str, entitlements: list[dict[str, Any]],
                     access_denied_reason: str | None = None,
                     resource_id: str | None = None) -> None:
        """Create or replace the entry (customer_id, resource_id)."""
        self.store.set(customer_id, entitlements, access_denied_reason, resource_id)

    def remove_customer(self, customer_id: str, resource_id: str | None = None) -> bool:
        """Delete an entry so reads answer CustomerNotFound; returns whether it existed.
        An existing entry's removal pushes the purge form of entitlementsUpdatedV2."""
        return self.store.remove(customer_id, resource_id)

    def get_state(self, customer_id: str, resource_id: str | None = None) -> dict[str, Any]:
        """The entitlementsState Edge would serve (a copy)."""
        return self.store.state(customer_id, resource_id)

    def get_usage(self, customer_id: str, feature_id: str,
                  resource_id: str | None = None) -> float | None:
        """``currentUsage`` of a feature (by refId) or, failing that, of a credit wallet
        (by currencyId). Raises KeyError if the entry has neither."""
        return self._usage_item(customer_id, feature_id, resource_id).get("currentUsage")

    def set_usage(self, customer_id: str, feature_id: str, current_usage: float | None,
                  resource_id: str | None = None) -> None:
        """Overwrite ``currentUsage`` in place, as if reported elsewhere."""
        self._usage_item(customer_id, feature_id, resource_id)["currentUsage"] = current_usage
        self.store.notify_usage(customer_id, resource_id, feature_id)

    def set_usage_overrides(self, **fields: Any) -> None:
        """Merge ``fields`` (upstream names, e.g. ``currentUsage=None``, ``id=...``) into
        every later measurement answer; call with no arguments to clear."""
        self.ledger.overrides = dict(fields)

    def _usage_item(self, customer_id: str, ref: str,
                    resource_id: str | None) -> dict[str, Any]:
        rid = normalize_resource(resource_id)
        item = (self.store.find_feature(customer_id, rid, ref)
                or self.store.find_credit(customer_id, rid, ref))
        if item is None:
            raise KeyError(f"no feature or wallet {ref!r} for ({customer_id!r}, {rid!r})")
        return item

    # -- WebSocket pushes ------------------------------------------------------------
    @property
    def ws_push_enabled(self) -> bool:
        """Whether store changes push automatically (default True). Explicit pushes
        (purge_customer, publish_package, push_*) are sent regardless."""
        return self.ws.push_enabled

    @ws_push_enabled.setter
    def ws_push_enabled(self, value: bool) -> None:
        self.ws.push_enabled = bool(value)

    @property
    def ws_init_timeout_s(self) -> float:
        """Seconds a socket may wait before connection_init (default 10; then 4408)."""
        return self.ws.init_timeout_s

    @ws_init_timeout_s.setter
    def ws_init_timeout_s(self, value: float) -> None:
        self.ws.init_timeout_s = float(value)

    def purge_customer(self, customer_id: str, resource_id: str | None = None, *,
                       remove: bool = False) -> int:
        """Push the purge form of entitlementsUpdatedV2 (``entitlements: []``,
        ``accessDeniedReason: null``) for the entry. The store entry is kept (so the
        sidecar's refetch reads it), unless ``remove=True`` deletes it as well.
        Returns the number of frames queued."""
        if remove:
            with self.ws.suppressed():
                self.store.remove(customer_id, resource_id)
        return self.ws.push_entitlements(customer_id, [], resource_id)

    def publish_package(self, migration_type: str = "ALL_CUSTOMERS",
                        package_ref_id: str = "plan-x", package_type: str = "Plan",
                        package_version: int = 2) -> int:
        """Push packagePublished (``migration_type`` ALL_CUSTOMERS or NEW_CUSTOMERS)."""
        return self.ws.publish_package(migration_type, package_ref_id, package_type,
                                       package_version)

    def push_entitlements(self, customer_id: str, entitlements: list[dict[str, Any]],
                          resource_id: str | None = None,
                          access_denied_reason: str | None = None) -> int:
        """Push entitlementsUpdatedV2 with these items without changing the store
        (e.g. for very large frames). Returns the number of frames queued."""
        return self.ws.push_entitlements(customer_id, entitlements, resource_id,
                                         access_denied_reason)

    def push_usage(self, customer_id: str, ref: str, current_usage: float,
                   resource_id: str | None = None, reference_type: str = "FEATURE",
                   usage_period_start: str | None = None,
                   usage_period_end: str | None = None,
                   usage_updated_at: str | None = None) -> int:
        """Push usageUpdatedV2 without changing the store (``reference_type`` FEATURE
        or CREDIT; ``usage_updated_at`` defaults to now)."""
        return self.ws.push_usage(customer_id, ref, current_usage, resource_id,
                                  reference_type, usage_period_start, usage_period_end,
                                  usage_updated_at)

    def push_raw(self, message: dict[str, Any] | str) -> int:
        """Send a raw text frame (a dict is JSON-encoded) to every open socket."""
        return self.ws.push_raw(message)

    # -- WebSocket faults ------------------------------------------------------------
    def ws_close_all(self, code: int = 1011, reason: str = "", *, abort: bool = False) -> int:
        """Close every open socket now with ``code``/``reason`` (queued behind frames
        already queued; sent even while muted). ``abort=True`` drops the TCP
        connections without a close frame instead. Returns how many sockets."""
        return self.ws.close_all(int(code), str(reason), abort=abort)

    def ws_mute(self, enabled: bool = True) -> None:
        """Half-open sockets: while set, nothing is sent (no pongs, acks, pushes or
        WebSocket-level pongs); frames produced meanwhile are lost."""
        self.ws.muted = bool(enabled)

    def ws_refuse(self, enabled: bool = True) -> None:
        """While set, ``GET /graphql`` upgrades answer HTTP 503."""
        self.ws.refuse = bool(enabled)

    def ws_reject_key(self, enabled: bool = True) -> None:
        """While set, every connection_init is answered by close 4401 "Invalid API key",
        even with the right key (a revoked key)."""
        self.ws.reject_key = bool(enabled)

    def ws_fault(self, mode: str, *, enabled: bool = True, code: int = 1011,
                 reason: str = "") -> dict[str, bool]:
        """WebSocket faults by name (``POST /_emulator/fault`` with ``"target": "ws"``):
        ``close_all`` (``code``, ``reason``), ``abort_all``, ``mute`` / ``refuse`` /
        ``reject_key`` (``enabled``), ``none`` (clear mute, refuse and reject_key).
        Returns the WebSocket fault flags."""
        if mode == "close_all":
            self.ws_close_all(code, reason)
        elif mode == "abort_all":
            self.ws_close_all(abort=True)
        elif mode == "mute":
            self.ws_mute(enabled)
        elif mode == "refuse":
            self.ws_refuse(enabled)
        elif mode == "reject_key":
            self.ws_reject_key(enabled)
        elif mode == "none":
            self.ws.clear_faults()
        else:
            raise ValueError(f"unknown ws fault mode {mode!r}; expected one of "
                             "('close_all', 'abort_all', 'mute', 'refuse', 'reject_key', "
                             "'none')")
        return self.ws.faults()

    # -- faults --------------------------------------------------------------------
    def set_fault(self, mode: str, *, target: str = "all", operation: str | None = None,
                  delay_ms: int = 0, status: int = 503, retry_after: float | None = None,
                  code: str = "InternalServerError",
                  message: str = "Emulated upstream error", trace_id: str | None = None,
                  count: int | None = None) -> Fault:
        """Install a fault (modes and matching in :mod:`stigg_emulator.faults`).

        ``delay_ms`` in milliseconds (``slow``, ``apply_then_drop``); ``status`` and
        ``retry_after`` seconds for ``status``; ``code``, ``message``, ``trace_id`` for
        ``graphql_error``; ``count`` = number of matching requests, None = until
        cleared. ``set_fault("none")`` clears all faults, the WebSocket ones included.
        WebSocket faults have their own methods (:meth:`ws_fault`).
        """
        if target == "ws":
            raise ValueError("WebSocket faults: use ws_fault() or ws_close_all(), "
                             "ws_mute(), ws_refuse(), ws_reject_key()")
        if mode == "none" and target == "all" and operation is None:
            self.ws.clear_faults()
        fault = Fault(mode=mode, target=target, operation=operation, delay_ms=int(delay_ms),
                      status=int(status), retry_after=retry_after, code=code,
                      message=message, trace_id=trace_id,
                      count=None if count is None else int(count))
        self.faults.set(fault)
        return fault

    def clear_faults(self) -> None:
        """Clear every HTTP fault and the WebSocket fault flags."""
        self.faults.clear()
        self.ws.clear_faults()

    # -- records -------------------------------------------------------------------
    @property
    def requests(self) -> list[RequestRecord]:
        """Every upstream request received since the last reset, in arrival order."""
        return self.log.records

    def count(self, kind: str | None = None, operation: str | None = None,
              customer_id: str | None = None) -> int:
        """Requests matching all given filters: ``kind`` ``"edge"``/``"graphql"``,
        ``operation`` (operation name or root field), ``customer_id``."""
        return self.log.count(kind, operation, customer_id)

    @property
    def usage_inputs(self) -> list[dict[str, Any]]:
        """Every ReportUsage(Base)Input item received, duplicates included."""
        return self.ledger.inputs

    @property
    def usage_measurements(self) -> list[dict[str, Any]]:
        """Every measurement actually applied (idempotent replays excluded)."""
        return self.ledger.measurements

    @property
    def applied_usage_keys(self) -> int:
        """How many distinct idempotency keys were applied (each exactly once)."""
        return len(self.ledger.by_key)

    @property
    def usage_replays(self) -> int:
        """How many usage items were answered from an already-seen idempotency key."""
        return self.ledger.replays

    @property
    def events(self) -> dict[str, dict[str, Any]]:
        """idempotencyKey → first UsageEventReportInput received with it."""
        return self.event_log.by_key

    @property
    def events_received(self) -> list[dict[str, Any]]:
        """Every event received, duplicates included."""
        return self.event_log.received

    @property
    def ws_connections(self) -> int:
        """Accepted graphql-transport-ws upgrades."""
        return self.ws.connections

    @property
    def ws_connection_attempts(self) -> int:
        """Every ``GET /graphql`` (refused, non-upgrade and wrong-subprotocol included)."""
        return self.ws.attempts

    @property
    def ws_subscriptions(self) -> list[dict[str, Any]]:
        """Accepted subscribes: ``{id, operationName, rootField, query}``."""
        return self.ws.subscriptions

    @property
    def ws_pings_received(self) -> int:
        """``ping`` messages received (muted or not)."""
        return self.ws.pings_received

    @property
    def ws_inits(self) -> list[dict[str, Any]]:
        """One ``{"headers": {...}, "accepted": bool}`` per connection_init (recorded
        header subset, lower-case names)."""
        return self.ws.inits

    @property
    def ws_pushes(self) -> list[dict[str, Any]]:
        """One summary per push (``rootField``, ids, ``frames`` queued)."""
        return self.ws.pushes

    def ws_live_clients(self) -> int:
        """Open sockets that are acknowledged and have at least one subscription."""
        return self.ws.live_clients()

    def record_validation_failure(self, kind: str, operation: str | None,
                                  messages: list[str], query: str | None = None,
                                  variables: dict[str, Any] | None = None) -> None:
        """Note a protocol problem. ``kind``: ``document`` (schema, syntax or variable
        errors), ``header`` (X-API-VERSION, Content-Type, WebSocket subprotocol),
        ``body`` (not JSON) or ``ws`` (a graphql-transport-ws protocol violation)."""
        self.validation_failures.append({
            "kind": kind, "operation": operation, "messages": list(messages),
            "query": query, "variables": variables,
        })

    def reset_counters(self) -> None:
        """Forget recorded requests only."""
        self.log.clear()

    def reset(self) -> None:
        """Back to the state after loading the baseline: no records, usage inputs,
        idempotency keys, events, validation failures, overrides or faults; the
        scenario restored from the last loaded snapshot. WebSocket records and fault
        flags are cleared too (open sockets stay open and get the reload's pushes)."""
        self.log.clear()
        self.ws.clear_records()
        self.ledger.clear()
        self.event_log.clear()
        self.faults.clear()
        self.ws.clear_faults()
        self.validation_failures.clear()
        self.store.load(copy.deepcopy(self._baseline))

    def state(self) -> dict[str, Any]:
        """A JSON-ready summary (served by ``GET /_emulator/state``)."""
        return {
            "counts": self.log.summary(),
            "requests": [r.as_dict() for r in self.log.records],
            "usage": {
                "inputs": self.ledger.inputs,
                "measurements": self.ledger.measurements,
                "appliedKeys": self.applied_usage_keys,
                "replays": self.usage_replays,
            },
            "events": {
                "received": self.event_log.received,
                "byKey": self.event_log.by_key,
                "duplicates": self.event_log.duplicates,
            },
            "validationFailures": self.validation_failures,
            "faults": [f.as_dict() for f in self.faults.active()],
            "ws": self.ws.state(),
        }
