"""HTTP on ``HTTP_PORT``: ``/livez``, ``/readyz``, ``/metrics`` (configuration.md §4), and
the HTTP/JSON API when enabled (api_app.py)."""
from __future__ import annotations

from typing import Any, Callable, Iterable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

#: Returns ``None`` when ready, else the reason (``starting``, ``shutting down``, …).
ReadinessProbe = Callable[[], str | None]
#: Extra fields for the ``/readyz`` body (e.g. real-time state); never decides readiness.
ReadinessDetails = Callable[[], dict[str, Any]]


def build_app(
    readiness: ReadinessProbe,
    registry: CollectorRegistry,
    details: ReadinessDetails = dict,
    api_routes: Iterable[web.AbstractRouteDef] = (),
    client_max_size: int = 1024**2,
) -> web.Application:
    """The probes, plus ``api_routes`` (the HTTP/JSON API when ``HTTP_API_ENABLED``).

    ``client_max_size`` is the largest request body accepted, in bytes.
    """

    async def livez(_: web.Request) -> web.Response:
        return web.json_response({"status": "UP"})

    async def readyz(_: web.Request) -> web.Response:
        reason = readiness()
        if reason is None:
            return web.json_response({"status": "UP", **details()})
        return web.json_response({"status": "DOWN", "reason": reason, **details()}, status=503)

    async def metrics(_: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application(client_max_size=client_max_size)
    app.router.add_get("/livez", livez)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_routes(api_routes)
    return app


class HttpServer:
    """Runs the app on ``host:port``; ``port`` is the bound port after ``start``."""

    def __init__(self, app: web.Application, host: str, port: int, *, reuse_port: bool = False) -> None:
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        self._host = host
        self._requested_port = port
        self.port = port
        self._reuse_port = reuse_port

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._requested_port,
                           reuse_port=self._reuse_port or None)
        await site.start()
        addresses = self._runner.addresses
        if addresses:
            self.port = addresses[0][1]

    async def stop(self) -> None:
        await self._runner.cleanup()
