"""Dependency-injector containers: the only place that knows how the graph is wired.

``build_container(settings, fallbacks)`` returns a container whose providers give plain
objects; nothing else in ``src/`` sees the container (design.md §5 item 10).
"""
from __future__ import annotations

import os
import uuid

from dependency_injector import containers, providers
from prometheus_client import CollectorRegistry

from adapters.inbound.grpc.servicer import SidecarServicer
from adapters.inbound.http.api_app import HttpApi
from adapters.inbound.use_cases import UseCases
from adapters.outbound.memory_cache import MemoryEntitlementCache
from adapters.outbound.offline import (
    OfflineEntitlementSource,
    OfflineEventReporter,
    OfflineUsageReporter,
    SnapshotEntitlementSource,
)
from adapters.outbound.prometheus_telemetry import PrometheusTelemetry
from adapters.outbound.redis_cache import RedisEntitlementCache
from adapters.outbound.stigg_edge import EdgeEntitlementSource
from adapters.outbound.stigg_graphql import (
    GraphqlEntitlementSource,
    GraphqlEventReporter,
    GraphqlKeyCheck,
    GraphqlUsageReporter,
)
from adapters.outbound.stigg_routing import RoutingEntitlementSource
from adapters.outbound.stigg_ws import WsRealtimeUpdates, WsTiming
from adapters.outbound.system_clock import SystemClock
from bootstrap import resources
from bootstrap.memory import default_cache_bytes
from bootstrap.settings import SidecarSettings
from bootstrap.version import USER_AGENT
from domain.model.fallback import FallbackTable
from domain.services.apply_realtime_update import ApplyRealtimeUpdate
from domain.services.check_entitlement import CheckCredit, CheckEntitlement, CheckTypedEntitlement
from domain.services.check_entitlement_v2 import CheckEntitlementV2
from domain.services.follow_realtime_updates import FollowRealtimeUpdates
from domain.services.get_entitlements_state import GetEntitlementsState
from domain.services.load_entitlements import LoadEntitlements
from domain.services.read_context import ReadContext
from domain.services.reload_entitlements import ReloadEntitlements
from domain.services.buffer_usage import BufferUsage
from domain.services.deliver_events import DeliverEvents, RetryPolicy
from domain.services.deliver_usage import DeliverUsage
from domain.services.queue_events import QueueEvents
from domain.services.report_events import ReportEvents
from domain.services.report_usage import ReportUsage
from domain.services.write_context import WriteContext


def _api_key(settings: SidecarSettings) -> str:
    return settings.server_api_key.get_secret_value() if settings.server_api_key else ""


def _ws_timing(settings: SidecarSettings) -> WsTiming:
    return WsTiming(
        ping_interval_s=settings.ws_ping_interval_ms / 1000,
        dead_after_s=settings.ws_dead_after_ms / 1000,
        backoff_initial_s=settings.ws_backoff_initial_ms / 1000,
        backoff_max_s=settings.ws_backoff_max_ms / 1000,
        auth_retry_s=settings.ws_auth_retry_ms / 1000,
    )


def _retry_policy(settings: SidecarSettings) -> RetryPolicy:
    return RetryPolicy(initial_s=settings.outbox_retry_initial_ms / 1000,
                       max_s=settings.outbox_retry_max_ms / 1000)


def _outbox_dir(settings: SidecarSettings) -> str:
    """One directory per process: each worker of WORKERS=N gets its own."""
    index = os.environ.get("WORKER_INDEX")
    return os.path.join(settings.outbox_dir, f"worker-{index}") if index else settings.outbox_dir


def _usage_outbox_dir(settings: SidecarSettings) -> str:
    """The usage outbox lives inside the process's event outbox directory (``usage``),
    so each worker of WORKERS=N has its own too (the event outbox ignores subdirectories)."""
    return os.path.join(_outbox_dir(settings), "usage")


def _cache_bytes(settings: SidecarSettings) -> int:
    return settings.cache_max_size_bytes or default_cache_bytes()


class SidecarContainer(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=SidecarSettings)
    fallbacks = providers.Dependency(instance_of=FallbackTable)
    registry = providers.Singleton(CollectorRegistry)
    instance_id = providers.Singleton(lambda: str(uuid.uuid4()))

    clock = providers.Singleton(SystemClock)
    telemetry = providers.Singleton(PrometheusTelemetry, registry=registry)
    http_transport = providers.Resource(resources.http_transport)

    # --- outbound: Stigg ---
    api_key = providers.Callable(_api_key, settings)
    _upstream = dict(
        transport=http_transport, api_key=api_key, instance_id=instance_id, user_agent=USER_AGENT,
        clock=clock, telemetry=telemetry,
    )
    graphql_url = providers.Callable(lambda s: s.api_url, settings)
    edge_url = providers.Callable(lambda s: s.edge_api_url, settings)
    graphql_source = providers.Singleton(
        GraphqlEntitlementSource, api_url=graphql_url, **_upstream
    )
    edge_source = providers.Singleton(
        EdgeEntitlementSource, edge_url=edge_url, **_upstream
    )
    source = providers.Singleton(
        RoutingEntitlementSource,
        graphql=graphql_source,
        edge=edge_source,
        edge_enabled=providers.Callable(lambda s: s.edge_enabled, settings),
    )
    usage_reporter = providers.Singleton(
        GraphqlUsageReporter, api_url=graphql_url, **_upstream
    )
    event_reporter = providers.Singleton(
        GraphqlEventReporter, api_url=graphql_url, **_upstream
    )
    key_check = providers.Singleton(
        GraphqlKeyCheck, api_url=graphql_url, **_upstream
    )

    realtime = providers.Singleton(
        WsRealtimeUpdates,
        ws_url=providers.Callable(lambda s: s.ws_url, settings),
        api_key=api_key,
        instance_id=instance_id,
        user_agent=USER_AGENT,
        clock=clock,
        telemetry=telemetry,
        timing=providers.Callable(_ws_timing, settings),
        max_message_bytes=providers.Callable(lambda s: s.ws_max_message_bytes, settings),
    )

    # --- cache ---
    cache = providers.Singleton(
        MemoryEntitlementCache, max_bytes=providers.Callable(_cache_bytes, settings)
    )

    # --- core ---
    loader = providers.Singleton(
        LoadEntitlements, cache=cache, source=source, clock=clock, telemetry=telemetry
    )
    read_context = providers.Singleton(
        ReadContext,
        loader=loader,
        fallbacks=fallbacks,
        clock=clock,
        telemetry=telemetry,
        timeout_s=providers.Callable(lambda s: s.entitlements_timeout_ms / 1000, settings),
    )
    write_context = providers.Singleton(
        WriteContext,
        clock=clock,
        timeout_s=providers.Callable(lambda s: s.api_timeout_ms / 1000, settings),
    )
    # --- events: pass-through, or the durable outbox (chosen in build_sidecar_container) ---
    event_outbox = providers.Object(None)
    deliver_events = providers.Singleton(
        DeliverEvents, event_outbox, event_reporter, write_context,
        batch_size=providers.Callable(lambda s: s.outbox_batch_size, settings),
        retry=providers.Callable(_retry_policy, settings),
    )
    queue_events = providers.Singleton(
        QueueEvents, event_outbox, on_queued=providers.Callable(lambda d: d.notify, deliver_events)
    )
    report_events = providers.Singleton(ReportEvents, event_reporter, write_context)
    # --- usage: pass-through, optionally buffered when the upstream is unreachable ---
    usage_outbox = providers.Object(None)
    usage_buffer = providers.Object(None)
    deliver_usage = providers.Object(None)
    check_feature = providers.Singleton(CheckEntitlement, read_context)
    check_credit = providers.Singleton(CheckCredit, read_context)
    use_cases = providers.Singleton(
        UseCases,
        typed=providers.Singleton(CheckTypedEntitlement, read_context),
        generic=check_feature,
        v2=providers.Singleton(CheckEntitlementV2, read_context, check_feature, check_credit),
        state=providers.Singleton(GetEntitlementsState, read_context),
        reload=providers.Singleton(
            ReloadEntitlements, read_context, cache=cache, source=source, telemetry=telemetry
        ),
        usage=providers.Singleton(ReportUsage, usage_reporter, cache, write_context,
                                  buffer=usage_buffer),
        events=report_events,
    )
    servicer = providers.Singleton(
        SidecarServicer, use_cases=use_cases, clock=clock,
        on_rpc=providers.Callable(lambda t: t.observe_rpc, telemetry),
    )
    #: The HTTP/JSON API (HTTP_API_ENABLED): the same use cases behind another transport.
    http_api = providers.Singleton(
        HttpApi, use_cases=use_cases, clock=clock,
        on_rpc=providers.Callable(lambda t: t.observe_rpc, telemetry),
    )
    apply_realtime = providers.Singleton(ApplyRealtimeUpdate, cache)
    follow_realtime = providers.Singleton(
        FollowRealtimeUpdates, realtime, providers.Callable(lambda a: a.execute, apply_realtime)
    )


def build_sidecar_container(settings: SidecarSettings, fallbacks: FallbackTable) -> SidecarContainer:
    """The container with adapters chosen by settings (a plain ``if``, design.md §5 item 11).

    OFFLINE=true swaps every network adapter for its offline counterpart before anything
    is built.
    """
    container = SidecarContainer(settings=settings, fallbacks=fallbacks)
    # One Redis client (pool) per process, shared by the cache and the outbox.
    redis = redis_client_provider(settings) if settings.redis_mode and not settings.offline else None
    if settings.events_mode == "outbox":
        if settings.outbox_store == "redis":
            outbox = providers.Resource(
                resources.redis_event_outbox, client=redis,
                prefix=settings.redis_environment_prefix, max_bytes=settings.outbox_max_bytes,
                clock=container.clock, claim_idle_ms=settings.outbox_claim_idle_ms,
                on_error=providers.Callable(lambda t: t.redis_client_errors.inc, container.telemetry))
        else:
            outbox = providers.Resource(
                resources.event_outbox, directory=_outbox_dir(settings),
                max_bytes=settings.outbox_max_bytes, clock=container.clock)
        container.event_outbox.override(outbox)
        container.report_events.override(container.queue_events)
    if settings.usage_buffering and not settings.offline:  # offline never fails to send
        container.usage_outbox.override(providers.Resource(
            resources.usage_outbox, directory=_usage_outbox_dir(settings),
            max_bytes=settings.outbox_max_bytes, clock=container.clock))
        container.usage_buffer.override(providers.Singleton(
            BufferUsage, container.usage_outbox, container.cache, container.clock))
        container.deliver_usage.override(providers.Singleton(
            DeliverUsage, container.usage_outbox, container.usage_reporter, container.cache,
            container.write_context, buffer=container.usage_buffer,
            retry=providers.Callable(_retry_policy, settings)))
    if redis is not None:
        container.cache.override(redis_cache_provider(settings, container, redis))
    if settings.offline:
        snapshot = settings.entitlements_snapshot_file
        source = (
            providers.Singleton(SnapshotEntitlementSource, snapshot, container.clock)
            if snapshot
            else providers.Singleton(OfflineEntitlementSource)
        )
        container.source.override(source)
        container.usage_reporter.override(providers.Singleton(OfflineUsageReporter))
        container.event_reporter.override(providers.Singleton(OfflineEventReporter))
    return container


def redis_client_provider(settings) -> providers.Resource:
    """The Redis client resource from ``REDIS_*`` settings (both commands)."""
    password = settings.redis_password.get_secret_value() if settings.redis_password else None
    return providers.Resource(
        resources.redis_client,
        host=settings.redis_host, port=settings.redis_port, db=settings.redis_db,
        username=settings.redis_username, password=password, tls=settings.redis_tls,
    )


def redis_command_timeout_s(entitlements_timeout_ms: int) -> float:
    """Bound of one Redis command (seconds): 1 s (caching-and-redis.md §3.8), but at most a
    quarter of the read budget, so a stuck Redis plus the live fetch that follows still
    answer within ``ENTITLEMENTS_TIMEOUT_MS``."""
    return min(resources.REDIS_COMMAND_TIMEOUT_S, entitlements_timeout_ms / 1000 / 4)


def redis_cache_provider(settings: SidecarSettings, container: SidecarContainer,
                         client: providers.Provider | None = None) -> providers.Provider:
    """Redis mode (``REDIS_ENVIRONMENT_PREFIX`` set): the shared cache replaces the LRU.
    ``client``: the Redis client provider to use (default: a new one)."""
    telemetry = container.telemetry
    return providers.Singleton(
        RedisEntitlementCache,
        client=client if client is not None else redis_client_provider(settings),
        prefix=settings.redis_environment_prefix,
        ttl_s=settings.redis_keys_ttl_in_secs,
        clock=container.clock,
        on_error=providers.Callable(lambda t: t.redis_client_errors.inc, telemetry),
        command_timeout_s=redis_command_timeout_s(settings.entitlements_timeout_ms),
        lock_budget_s=settings.entitlements_timeout_ms / 1000,
    )
