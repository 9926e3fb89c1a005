"""The persistent cache service process: follow the real-time feed, keep Redis current.

Ready (``/readyz`` 200) only while the feed is live, Redis answers, and no invalidation
after a gap is pending (caching-and-redis.md §4). Shutdown on SIGTERM/SIGINT: stop the
feed, close Redis, exit 0.
"""
from __future__ import annotations

import asyncio
import logging

from adapters.inbound.http.health_app import HttpServer, build_app
from bootstrap.event_loop import running_loop_name
from bootstrap.pcs_containers import build_persistent_cache_container
from bootstrap.lifecycle import resolve, run_until_signalled
from bootstrap.settings import PersistentCacheSettings
from domain.model.realtime import RealtimeEvent
from domain.services.follow_realtime_updates import FollowRealtimeUpdates
from ports.errors import CacheUnavailableError

log = logging.getLogger("persistent_cache")

#: How often Redis reachability is probed and a failed invalidation retried (seconds).
PROBE_INTERVAL_S = 1.0


class PersistentCacheApp:
    def __init__(self, settings: PersistentCacheSettings) -> None:
        self.settings = settings
        self.container = build_persistent_cache_container(settings)
        self._state: str | None = "starting"
        self._redis_ok = False
        self._tasks: list[asyncio.Task] = []
        self._http: HttpServer | None = None
        self.http_port = 0

    def readiness(self) -> str | None:
        if self._state is not None:
            return self._state
        if not self._redis_ok:
            return "redis unavailable"
        if not self._realtime.live:
            return "websocket not connected"
        if self._invalidate.pending:
            return "invalidation pending"
        return None

    def _details(self) -> dict:
        return {"realtime": self._realtime.status(), "redis": self._redis_ok}

    async def start(self) -> None:
        c = self.container
        self._redis = await resolve(c.redis_client())
        self._cache = await resolve(c.cache())
        self._invalidate = await resolve(c.invalidate())
        self._realtime = await resolve(c.realtime())
        self._telemetry = await resolve(c.telemetry())
        keep = await resolve(c.keep_current())
        self._keep = keep
        self._http = HttpServer(build_app(self.readiness, self._telemetry.registry, self._details),
                                self.settings.bind_address, self.settings.http_port)
        await self._http.start()
        self.http_port = self._http.port
        follow = FollowRealtimeUpdates(self._realtime, self._handle)
        self._tasks = [asyncio.ensure_future(follow.execute()),
                       asyncio.ensure_future(self._probe())]
        self._state = None
        log.info("persistent cache service started", extra={"http_port": self.http_port,
                                                            "prefix": self.settings.redis_environment_prefix,
                                                            "event_loop": running_loop_name()})

    async def _handle(self, event: RealtimeEvent) -> None:
        self._telemetry.events.labels(type(event).__name__).inc()
        before = self._invalidate.invalidations
        try:
            await self._keep.execute(event)
        except CacheUnavailableError:
            self._telemetry.write_errors.inc()
            raise
        finally:
            self._telemetry.invalidations.inc(self._invalidate.invalidations - before)

    async def _probe(self) -> None:
        while True:
            try:
                async with asyncio.timeout(1.0):
                    await self._redis.ping()
                self._redis_ok = True
            except Exception:  # noqa: BLE001 - any failure means unreachable
                if self._redis_ok:
                    log.warning("redis unreachable")
                self._redis_ok = False
            if self._redis_ok:
                before = self._invalidate.invalidations
                await self._invalidate.execute(retry_only=True)
                self._telemetry.invalidations.inc(self._invalidate.invalidations - before)
            await asyncio.sleep(PROBE_INTERVAL_S)

    async def stop(self) -> None:
        if self._state == "shutting down":
            return
        self._state = "shutting down"
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.stop()
        close = getattr(getattr(self, "_cache", None), "aclose", None)
        if close is not None:
            await close()
        shutdown = self.container.shutdown_resources()
        if shutdown is not None:
            await shutdown
        log.info("stopped")

    async def run_until_signalled(self) -> None:
        """Start, serve until SIGTERM/SIGINT, then stop; a second signal exits at once."""
        await run_until_signalled(self.start, self.stop)
