"""``StiggEmulator``: a loopback Stigg upstream (Edge + GraphQL) for tests and demos."""

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

DEFAULT_ENVIRONMENT_ID = "00000000-0000-4000-8000-000000000001"
SHUTDOWN_TIMEOUT_S = 0.5
"""How long :meth:`StiggEmulator.stop` waits for in-flight (e.g. slowed) requests."""

_EMPTY_SNAPSHOT: dict[str, Any] = {"format": 1, "customers": []}


class StiggEmulator:
    """A real HTTP server on loopback speaking Stigg's Edge and GraphQL shapes.

    ``scenario`` is a snapshot dict or a path to a snapshot JSON file (format in the
    package docstring); it is also the baseline that :meth:`reset` restores.
    ``clock`` returns epoch milliseconds and stamps usage measurements (default: real
    time). ``project=False`` answers GraphQL with whole stored objects instead of
    shaping them by the query's selection.

    Use ``async with StiggEmulator(...) as emu:`` or ``await emu.start()`` /
    ``await emu.stop()``. All methods must be called on the server's event loop.
    """

    def __init__(self, api_key: str = "test-key",
                 scenario: dict[str, Any] | str | Path | None = None, *,
                 clock: Clock | None = None,
                 environment_id: str = DEFAULT_ENVIRONMENT_ID,
                 project: bool = True,
                 schema_path: str | Path = SCHEMA_PATH) -> None:
        self.api_key = api_key
        self.clock: Clock = clock or system_clock
        self.project = project
        self.schema = load_schema(str(schema_path))
        self.store = ScenarioStore()
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
        """Delete an entry so reads answer CustomerNotFound; returns whether it existed."""
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
        cleared. ``set_fault("none")`` clears all faults.
        """
        fault = Fault(mode=mode, target=target, operation=operation, delay_ms=int(delay_ms),
                      status=int(status), retry_after=retry_after, code=code,
                      message=message, trace_id=trace_id,
                      count=None if count is None else int(count))
        self.faults.set(fault)
        return fault

    def clear_faults(self) -> None:
        self.faults.clear()

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

    def record_validation_failure(self, kind: str, operation: str | None,
                                  messages: list[str], query: str | None = None,
                                  variables: dict[str, Any] | None = None) -> None:
        """Note a protocol problem. ``kind``: ``document`` (schema, syntax or variable
        errors), ``header`` (X-API-VERSION, Content-Type) or ``body`` (not JSON)."""
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
        scenario restored from the last loaded snapshot."""
        self.log.clear()
        self.ledger.clear()
        self.event_log.clear()
        self.faults.clear()
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
        }
