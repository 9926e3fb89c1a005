"""Control routes, for driving an emulator from another process.

No API key is needed, requests are not recorded, and faults never apply.

- ``GET  /_emulator/state``: :meth:`StiggEmulator.state` as JSON.
- ``POST /_emulator/fault``: body with :meth:`StiggEmulator.set_fault` parameters,
  e.g. ``{"mode": "status", "target": "edge", "status": 503, "count": 2}``;
  answers ``{"faults": [...]}`` (the active faults).
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
        try:
            self._emu.set_fault(mode, **params)
        except (TypeError, ValueError) as error:
            return _bad(str(error))
        return web.json_response({"faults": [f.as_dict() for f in self._emu.faults.active()]})

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
