"""The sidecar process: build the graph, start listeners, serve, shut down in order.

Lifecycle (configuration.md §4): readiness is ``starting`` until both listeners serve;
on SIGTERM/SIGINT readiness becomes ``shutting down`` and gRPC health NOT_SERVING, new
RPCs are refused while in-flight ones get ``SHUTDOWN_GRACE_MS``, then clients close.
"""
from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from adapters.inbound.grpc.server import GrpcServer
from adapters.inbound.http.health_app import HttpServer, build_app
from adapters.inbound.http.json_fields import MAX_BODY_BYTES
from adapters.outbound.memory_cache import MemoryEntitlementCache
from bootstrap.containers import SidecarContainer, build_sidecar_container
from bootstrap.event_loop import running_loop_name
from bootstrap.gc_policy import FreezePolicy, freeze_periodically
from bootstrap.lifecycle import resolve, run_until_signalled
from bootstrap.settings import SidecarSettings
from domain.model.budget import Budget
from domain.model.fallback import FallbackTable
from ports.errors import UpstreamAuthError, UpstreamError

log = logging.getLogger("sidecar")


class SidecarApp:
    """One sidecar. ``grpc_port`` / ``http_port`` are the bound ports after ``start``."""

    def __init__(
        self,
        settings: SidecarSettings,
        fallbacks: FallbackTable,
        container: SidecarContainer | None = None,
    ) -> None:
        self.settings = settings
        self.container = container or build_sidecar_container(settings, fallbacks)
        self._state: str | None = "starting"
        self._grpc: GrpcServer | None = None
        self._http: HttpServer | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.grpc_port = 0
        self.http_port = 0
        self._realtime = None
        self._cache = None
        self._deliver = None
        self._deliver_task: asyncio.Task[None] | None = None
        self._deliver_usage = None
        self._deliver_usage_task: asyncio.Task[None] | None = None

    def readiness(self) -> str | None:
        """``None`` when ready, else ``starting`` or ``shutting down``.

        Real-time state is not part of readiness: without the feed, reads refetch.
        """
        return self._state

    def _details(self) -> dict:
        if self._realtime is None:
            return {"realtime": {"enabled": False}}
        return {"realtime": {"enabled": True, **self._realtime.status()}}

    async def start(self) -> None:
        s = self.settings
        mode = "redis" if s.redis_mode and not s.offline else "memory"
        log.info("starting", extra={"phase": "resources", "mode": mode,
                                    "offline": s.offline, "realtime": s.realtime_enabled,
                                    "snapshot": s.entitlements_snapshot_file})
        await self.container.init_resources()
        servicer = await resolve(self.container.servicer())
        telemetry = await resolve(self.container.telemetry())
        self._cache = cache = await resolve(self.container.cache())
        if isinstance(cache, MemoryEntitlementCache):
            telemetry.watch_cache(lambda: cache.size_bytes, lambda: len(cache), lambda: cache.evictions)
        if s.events_mode == "outbox":
            # Before serving: events a previous run left in the outbox go out now.
            self._deliver = await resolve(self.container.deliver_events())
            self._deliver_task = asyncio.ensure_future(self._deliver.run())
            outbox = await resolve(self.container.event_outbox())
            queue = await resolve(self.container.queue_events())
            clock = await resolve(self.container.clock())
            deliver = self._deliver
            telemetry.watch_outbox(
                outbox.depth, outbox.bytes_used, lambda: outbox.oldest_age_s(clock.now_ms()),
                {"delivered": lambda: deliver.deliveries, "retries": lambda: deliver.retries,
                 "rejected_upstream": lambda: deliver.rejections, "refused_full": lambda: queue.rejected},
            )
        if s.usage_buffering and not s.offline:
            await self._start_usage_sender(telemetry)
        tls = None
        if s.tls_cert_file and s.tls_key_file:
            tls = (Path(s.tls_key_file).read_bytes(), Path(s.tls_cert_file).read_bytes())
        shared = s.workers > 1
        self._grpc = GrpcServer(servicer, s.bind_address, s.port, tls, reuse_port=shared)
        self.grpc_port = self._grpc.port
        log.info("starting", extra={"phase": "grpc", "port": self.grpc_port, "tls": tls is not None})
        await self._grpc.start()
        api_routes = []
        if s.http_api_enabled:
            api = await resolve(self.container.http_api())
            api_routes = api.routes(lambda: self._state is None)
        self._http = HttpServer(
            build_app(self.readiness, telemetry.registry, self._details, api_routes,
                      client_max_size=MAX_BODY_BYTES), s.bind_address,
            s.http_port, reuse_port=shared,
        )
        await self._http.start()
        self.http_port = self._http.port
        log.info("starting", extra={"phase": "http", "port": self.http_port,
                                    "http_api": s.http_api_enabled})
        self._state = None
        await self._grpc.set_serving(True)
        if not s.offline:
            self._spawn(self._check_key())
        if s.gc_freeze_interval_ms:
            policy = FreezePolicy()  # freezes what start-up loaded (modules, outbox index)
            self._spawn(freeze_periodically(policy, s.gc_freeze_interval_ms / 1000))
            telemetry.watch_gc(policy.frozen_objects)
        if s.realtime_enabled:
            self._realtime = await resolve(self.container.realtime())
            telemetry.watch_realtime(lambda: self._realtime.status()["lastMessageAgeSeconds"])
            follow = await resolve(self.container.follow_realtime())
            self._spawn(follow.execute())
        log.info("Sidecar is ready", extra={"grpc_port": self.grpc_port,
                                             "http_port": self.http_port,
                                             "event_loop": running_loop_name(),
                                             "grpc_experiments": os.environ.get("GRPC_EXPERIMENTS")})

    async def _start_usage_sender(self, telemetry) -> None:
        """USAGE_BUFFERING: the usage outbox's sender, started before serving (what a
        previous run left goes out now), and its metrics."""
        self._deliver_usage = deliver = await resolve(self.container.deliver_usage())
        self._deliver_usage_task = asyncio.ensure_future(deliver.run())
        outbox = await resolve(self.container.usage_outbox())
        buffer = await resolve(self.container.usage_buffer())
        clock = await resolve(self.container.clock())
        telemetry.watch_outbox(
            outbox.depth, outbox.bytes_used, lambda: outbox.oldest_age_s(clock.now_ms()),
            {"accepted": lambda: buffer.accepted, "delivered": lambda: deliver.deliveries,
             "retries": lambda: deliver.retries, "rejected_upstream": lambda: deliver.rejections,
             "refused_full": lambda: buffer.rejected},
            prefix="sidecar_usage_outbox", items="items",
        )

    def _spawn(self, coroutine) -> None:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _check_key(self) -> None:
        """One cheap query to validate the key; failures are logged, never fatal (§4)."""
        telemetry = await resolve(self.container.telemetry())
        clock = await resolve(self.container.clock())
        key_check = await resolve(self.container.key_check())
        budget = Budget.starting(clock.monotonic(), self.settings.api_timeout_ms / 1000)
        try:
            await key_check.check(budget)
        except UpstreamAuthError:
            telemetry.invalid_api_key_errors.inc()
            telemetry.initialization_errors.inc()
            log.error("Authentication failed. Double check your API key.")
        except UpstreamError as error:
            telemetry.initialization_errors.inc()
            log.warning("startup key check failed; serving from cache and fallback",
                        extra={"error": f"{type(error).__name__}: {error}"})

    async def stop(self) -> None:
        """Ordered shutdown: readiness and health first, then gRPC with grace, then clients."""
        if self._state == "shutting down":
            return
        self._state = "shutting down"
        log.info("shutting down", extra={"phase": "drain"})
        clock = await resolve(self.container.clock())
        grace_s = self.settings.shutdown_grace_ms / 1000
        flush_by = Budget.starting(clock.monotonic(), grace_s)  # one grace for RPCs and outbox
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self._grpc is not None:
            await self._grpc.stop(grace_s)
        senders = [task for task in (self._deliver_task, self._deliver_usage_task) if task]
        for task in senders:  # the senders ran on while RPCs drained
            task.cancel()
        await asyncio.gather(*senders, return_exceptions=True)
        flushes = [d.flush(flush_by) for d in (self._deliver, self._deliver_usage) if d]
        if flushes:
            log.info("shutting down", extra={"phase": "outbox"})
            await asyncio.gather(*flushes)
        if self._http is not None:
            await self._http.stop()
        shutdown = self.container.shutdown_resources()
        if shutdown is not None:
            await shutdown
        close = getattr(self._cache, "aclose", None)
        if close is not None:
            await close()
        log.info("stopped")

    async def run_until_signalled(self) -> None:
        """Start, serve until SIGTERM/SIGINT, then stop; a second signal exits at once."""
        await run_until_signalled(self.start, self.stop)
