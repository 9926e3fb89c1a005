"""Control routes, for driving an emulator from another process.

No API key is needed, requests are not recorded, and faults never apply.

- ``GET  /_emulator/state``: :meth:`StiggEmulator.state` as JSON.
- ``POST /_emulator/fault``: body with :meth:`StiggEmulator.set_fault` parameters,
  e.g. ``{"mode": "status", "target": "edge", "status": 503, "count": 2}``;
  answers ``{"faults": [...]}`` (the active faults). With ``"target": "ws"``:
  :meth:`StiggEmulator.ws_fault`, e.g. ``{"target": "ws", "mode": "close_all",
  "code": 1011, "reason": "bye"}``, ``{"target": "ws", "mode": "mute", "enabled":
  true}`` (modes ``close_all``, ``abort_all``, ``mute``, ``refuse``, ``reject_key``,
  ``none``); answers ``{"faults": [...], "ws": {"muted", "refuse", "rejectKey"}}``.
- ``POST /_emulator/ws``: an explicit WebSocket push, ``{"action": A, ...params}``
  with A one of ``publish_package``, ``purge_customer``, ``push_entitlements``,
  ``push_usage``, ``push_raw`` (params: the method's keyword arguments) or
  ``push_enabled`` (``{"enabled": bool}``); answers ``{"frames": N}``.
- ``POST /_emulator/reset``: :meth:`StiggEmulator.reset`; with body
  ``{"counters_only": true}`` only :meth:`StiggEmulator.reset_counters`.
- ``PUT  /_emulator/customers``: replace the scenario with the posted snapshot
  (it also becomes the baseline that ``reset`` restores).
- ``GET  /_emulator/customers``: the current scenario as a snapshot.

Bad input answers HTTP 400 ``{"error": "..."}``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .scenario import SnapshotError

if TYPE_CHECKING:
    from .emulator import StiggEmulator

PREFIX = "/_emulator"


def add_routes(app: web.Application, emulator: StiggEmulator) -> None:
    routes = ControlRoutes(emulator)
    app.router.add_get(f"{PREFIX}/state", routes.state)
    app.router.add_post(f"{PREFIX}/fault", routes.fault)
    app.router.add_post(f"{PREFIX}/ws", routes.ws)
    app.router.add_post(f"{PREFIX}/reset", routes.reset)
    app.router.add_put(f"{PREFIX}/customers", routes.put_customers)
    app.router.add_get(f"{PREFIX}/customers", routes.get_customers)


class ControlRoutes:
    def __init__(self, emulator: StiggEmulator) -> None:
        self._emu = emulator

    async def state(self, request: web.Request) -> web.Response:
        return web.json_response(self._emu.state())

    async def fault(self, request: web.Request) -> web.Response:
        params = await _json_object(request)
        if params is None:
            return _bad("body must be a JSON object")
        mode = params.pop("mode", None)
        if not isinstance(mode, str):
            return _bad("\"mode\" is required")
        if params.get("target") == "ws":
            params.pop("target")
            try:
                flags = self._emu.ws_fault(mode, **params)
            except (TypeError, ValueError) as error:
                return _bad(str(error))
            return web.json_response({
                "faults": [f.as_dict() for f in self._emu.faults.active()], "ws": flags})
        try:
            self._emu.set_fault(mode, **params)
        except (TypeError, ValueError) as error:
            return _bad(str(error))
        return web.json_response({"faults": [f.as_dict() for f in self._emu.faults.active()]})

    async def ws(self, request: web.Request) -> web.Response:
        params = await _json_object(request)
        if params is None:
            return _bad("body must be a JSON object")
        action = params.pop("action", None)
        emu = self._emu
        actions = {"publish_package": emu.publish_package,
                   "purge_customer": emu.purge_customer,
                   "push_entitlements": emu.push_entitlements,
                   "push_usage": emu.push_usage,
                   "push_raw": emu.push_raw}
        if action == "push_enabled":
            emu.ws_push_enabled = bool(params.get("enabled", True))
            return web.json_response({"frames": 0, "pushEnabled": emu.ws_push_enabled})
        method = actions.get(action) if isinstance(action, str) else None
        if method is None:
            return _bad(f"\"action\" must be one of {sorted([*actions, 'push_enabled'])}")
        try:
            frames = method(**params)
        except (TypeError, ValueError) as error:
            return _bad(str(error))
        return web.json_response({"frames": frames})

    async def reset(self, request: web.Request) -> web.Response:
        params = await _json_object(request, allow_empty=True)
        if params is None:
            return _bad("body must be empty or a JSON object")
        if params.get("counters_only"):
            self._emu.reset_counters()
        else:
            self._emu.reset()
        return web.json_response({"ok": True})

    async def put_customers(self, request: web.Request) -> web.Response:
        snapshot = await _json_object(request)
        if snapshot is None:
            return _bad("body must be a snapshot JSON object")
        try:
            self._emu.load_snapshot(snapshot)
        except SnapshotError as error:
            return _bad(str(error))
        return web.json_response({"ok": True, "customers": len(snapshot["customers"])})

    async def get_customers(self, request: web.Request) -> web.Response:
        return web.json_response(self._emu.store.dump())


async def _json_object(request: web.Request, allow_empty: bool = False) -> dict[str, Any] | None:
    text = await request.text()
    if not text.strip():
        return {} if allow_empty else None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _bad(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)
