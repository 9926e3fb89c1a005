"""The persistent cache service's container: the same core and adapters, composed for
WebSocket → KeepSharedCacheCurrent → Redis."""
from __future__ import annotations

import uuid

from dependency_injector import containers, providers
from prometheus_client import CollectorRegistry

from adapters.outbound.prometheus_pcs import PersistentCacheTelemetry
from adapters.outbound.redis_cache import RedisEntitlementCache
from adapters.outbound.redis_invalidation import RedisSharedCacheInvalidator
from adapters.outbound.stigg_ws import WsRealtimeUpdates, WsTiming
from adapters.outbound.system_clock import SystemClock
from bootstrap import resources
from bootstrap.containers import redis_client_provider
from bootstrap.settings import PersistentCacheSettings
from bootstrap.version import PCS_USER_AGENT
from domain.services.apply_realtime_update import ApplyRealtimeUpdate
from domain.services.keep_shared_cache_current import (
    InvalidateSharedCache,
    KeepSharedCacheCurrent,
    UpdatePolicy,
)


def _timing(s: PersistentCacheSettings) -> WsTiming:
    return WsTiming(
        ping_interval_s=s.ws_ping_interval_ms / 1000,
        dead_after_s=s.ws_dead_after_ms / 1000,
        backoff_initial_s=s.ws_backoff_initial_ms / 1000,
        backoff_max_s=s.ws_backoff_max_ms / 1000,
        auth_retry_s=s.ws_auth_retry_ms / 1000,
    )


class PersistentCacheContainer(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=PersistentCacheSettings)
    redis_client = providers.Dependency()
    registry = providers.Singleton(CollectorRegistry)
    clock = providers.Singleton(SystemClock)
    telemetry = providers.Singleton(PersistentCacheTelemetry, registry=registry)
    cache = providers.Singleton(
        RedisEntitlementCache,
        client=redis_client,
        prefix=providers.Callable(lambda s: s.redis_environment_prefix, settings),
        ttl_s=providers.Callable(lambda s: s.ttl_s, settings),
        clock=clock,
        on_error=providers.Callable(lambda t: t.redis_errors.inc, telemetry),
        command_timeout_s=resources.REDIS_COMMAND_TIMEOUT_S,
    )
    invalidate = providers.Singleton(
        InvalidateSharedCache,
        providers.Singleton(
            RedisSharedCacheInvalidator,
            client=redis_client,
            prefix=providers.Callable(lambda s: s.redis_environment_prefix, settings),
        ),
    )
    keep_current = providers.Singleton(
        KeepSharedCacheCurrent,
        cache=cache,
        apply=providers.Singleton(ApplyRealtimeUpdate, cache),
        invalidate=invalidate,
        policy=providers.Callable(lambda s: UpdatePolicy(s.cache_update_policy), settings),
    )
    realtime = providers.Singleton(
        WsRealtimeUpdates,
        ws_url=providers.Callable(lambda s: s.ws_url, settings),
        api_key=providers.Callable(lambda s: s.server_api_key.get_secret_value(), settings),
        instance_id=providers.Singleton(lambda: str(uuid.uuid4())),
        user_agent=PCS_USER_AGENT,
        clock=clock,
        telemetry=telemetry,
        timing=providers.Callable(_timing, settings),
        max_message_bytes=providers.Callable(lambda s: s.ws_max_message_bytes, settings),
    )


def build_persistent_cache_container(settings: PersistentCacheSettings) -> PersistentCacheContainer:
    return PersistentCacheContainer(settings=settings, redis_client=redis_client_provider(settings))
