"""Sidecar settings from environment variables, with Stigg's names (configuration.md §2).

Field names are the lower-cased variable names, so an error's location *is* the
variable. ``load_sidecar_settings`` turns every problem into one line naming it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters.outbound.offline import load_snapshot
from bootstrap import event_loop
from bootstrap.parsing import (
    parse_bind_address,
    parse_bool,
    parse_fallbacks,
    parse_int,
    parse_url,
)
from domain.model.fallback import FallbackTable

#: Variables of Stigg's image we do not read, and what to use instead (configuration.md §1).
NOT_READ = {
    "GRPC_PORT": "PORT",
    "HEALTH_ENDPOINT_URL": "the fixed path /livez",
    "READY_ENDPOINT_URL": "the fixed path /readyz",
    "CACHE_UPDATE_POLICY": "nothing (no queue)",
    "QUEUE_URL": "nothing (no queue)",
    "AWS_REGION": "nothing (no queue)",
}
_VERBATIM = {"redis_password"}
_LOG_LEVELS = ("error", "warn", "info", "debug")
_POLICIES = ("upsert", "update-if-exists")
_OUTBOX_BACKENDS = ("auto", "file", "redis")


class ConfigurationError(Exception):
    """Invalid configuration; ``lines`` holds one message per invalid variable."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


class _EnvSettings(BaseSettings):
    """Parsing shared by both commands: strict bools, base-10 integers, URLs, levels.

    Validators name fields of either subclass (``check_fields=False``).
    """

    model_config = SettingsConfigDict(env_ignore_empty=True, frozen=True, extra="ignore")

    server_api_key: SecretStr | None = None
    api_url: str = "https://api.stigg.io"
    ws_url: str = "wss://api.stigg.io"
    #: Real-time keep-alive and limits (ours; ms and bytes). A socket with nothing received
    #: for WS_DEAD_AFTER_MS is replaced; keep it under two ping intervals.
    ws_ping_interval_ms: int = 10_000
    ws_dead_after_ms: int = 15_000
    ws_backoff_initial_ms: int = 1_000
    ws_backoff_max_ms: int = 30_000
    ws_auth_retry_ms: int = 300_000
    ws_max_message_bytes: int = 64 * 1024 * 1024
    redis_environment_prefix: str | None = None
    redis_host: str = "localhost"
    redis_port: int = 6379
    redis_db: int = 0
    redis_username: str | None = None
    redis_password: SecretStr | None = None
    redis_tls: bool = False
    redis_keys_ttl_in_secs: int = 604_800
    log_level: str = "info"
    #: The asyncio event loop (ours): ``auto`` (uvloop where installed), ``uvloop`` or
    #: ``asyncio`` (the standard library's); stored resolved. See bootstrap/event_loop.py.
    event_loop: str = Field("auto", validate_default=True)

    @model_validator(mode="before")
    @classmethod
    def _strip(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {
                k: (v.strip() if isinstance(v, str) and k.lower() not in _VERBATIM else v)
                for k, v in data.items()
            }
        return data

    _bools = field_validator("edge_enabled", "ws_enabled", "redis_tls", "offline", "http_api_enabled",
                             "usage_buffering",
                             mode="before", check_fields=False)(
        lambda v: parse_bool(v)
    )

    @field_validator("api_url", "edge_api_url", mode="before", check_fields=False)
    @classmethod
    def _http_url(cls, value: Any, info: Any) -> str:
        return parse_url(value, ("http", "https"), forbid_graphql=info.field_name == "api_url")

    @field_validator("ws_url", mode="before")
    @classmethod
    def _ws_url(cls, value: Any) -> str:
        return parse_url(value, ("ws", "wss"), forbid_graphql=True)

    @field_validator("port", "http_port", mode="before", check_fields=False)
    @classmethod
    def _listen_port(cls, value: Any) -> int:
        return parse_int(value, low=0, high=65535, what=" 0-65535")

    @field_validator("bind_address", mode="before", check_fields=False)
    @classmethod
    def _bind(cls, value: Any) -> str:
        return parse_bind_address(value)

    @field_validator("redis_port", mode="before")
    @classmethod
    def _redis_port(cls, value: Any) -> int:
        return parse_int(value, low=1, high=65535, what=" 1-65535")

    @field_validator("redis_db", "gc_freeze_interval_ms", mode="before", check_fields=False)
    @classmethod
    def _non_negative(cls, value: Any) -> int:
        return parse_int(value, low=0, what=" >= 0")

    @field_validator(
        "cache_max_size_bytes", "entitlements_timeout_ms", "api_timeout_ms", "shutdown_grace_ms",
        "ws_ping_interval_ms", "ws_dead_after_ms", "ws_backoff_initial_ms", "ws_backoff_max_ms", "ws_auth_retry_ms",
        "ws_max_message_bytes", "workers", "outbox_max_bytes", "outbox_retry_initial_ms",
        "outbox_retry_max_ms", "outbox_claim_idle_ms", mode="before", check_fields=False,
    )
    @classmethod
    def _positive(cls, value: Any) -> int | None:
        return None if value is None else parse_int(value, low=1, what=" > 0")

    @field_validator("redis_keys_ttl_in_secs", "keys_ttl_in_secs", mode="before", check_fields=False)
    @classmethod
    def _ttl(cls, value: Any) -> int | None:
        if value is None:
            return None
        number = parse_int(value, what=" (seconds; negative for no expiry)")
        if number == 0:
            raise ValueError("0 is not allowed: use a positive TTL, or a negative one for no expiry")
        return number

    @field_validator("outbox_batch_size", mode="before", check_fields=False)
    @classmethod
    def _batch(cls, value: Any) -> int:
        return parse_int(value, low=1, high=1000, what=" 1-1000")

    @field_validator("events_mode", mode="before", check_fields=False)
    @classmethod
    def _events_mode(cls, value: Any) -> str:
        text = str(value).strip().lower()
        if text not in ("outbox", "passthrough"):
            raise ValueError(f'expected one of outbox, passthrough, got "{value}"')
        return text

    @field_validator("outbox_backend", mode="before", check_fields=False)
    @classmethod
    def _outbox_backend(cls, value: Any) -> str:
        text = str(value).strip().lower()
        if text not in _OUTBOX_BACKENDS:
            raise ValueError(f'expected one of {", ".join(_OUTBOX_BACKENDS)}, got "{value}"')
        return text

    @field_validator("event_loop", mode="before")
    @classmethod
    def _event_loop(cls, value: Any) -> str:
        return event_loop.resolve(str(value).strip().lower())

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: Any) -> str:
        text = str(value).strip().lower()
        if text not in _LOG_LEVELS:
            raise ValueError(f'expected one of {", ".join(_LOG_LEVELS)}, got "{value}"')
        return text

    @field_validator("cache_update_policy", mode="before", check_fields=False)
    @classmethod
    def _policy(cls, value: Any) -> str:
        text = str(value).strip().lower().replace("_", "-")
        if text not in _POLICIES:
            raise ValueError(f'expected one of {", ".join(_POLICIES)}, got "{value}"')
        return text


class SidecarSettings(_EnvSettings):
    """``stigg-sidecar`` (configuration.md §2)."""

    edge_enabled: bool = True
    edge_api_url: str = "https://edge.api.stigg.io"
    ws_enabled: bool = True
    #: Read separately by ``parse_fallbacks`` (strict JSON, order kept); kept as text here.
    entitlements_fallback: str | None = None
    port: int = 8443
    http_port: int = 8080
    #: The HTTP/JSON API on HTTP_PORT next to the probes (ours; docs/http-api.md).
    http_api_enabled: bool = False
    #: Address both listeners bind (ours; 0.0.0.0 for a pod, 127.0.0.1 for a laptop).
    bind_address: str = "0.0.0.0"
    #: Optional TLS on the gRPC port (ours, for the standalone deployment): PEM files.
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    cache_max_size_bytes: int | None = None
    entitlements_timeout_ms: int = 10_000
    api_timeout_ms: int = 30_000
    #: How long in-flight RPCs may finish after SIGTERM, in ms (ours; the reference's 10 s).
    shutdown_grace_ms: int = 10_000
    #: Freeze long-lived objects out of the cyclic GC every this many ms; 0 = never (ours;
    #: bootstrap/gc_policy.py).
    gc_freeze_interval_ms: int = 10_000
    offline: bool = False
    #: ReportEvents (ours): ``outbox`` answers once the events are durably queued (local
    #: disk or the Redis stream) and sends them in the background; ``passthrough`` sends
    #: before answering.
    events_mode: str = "outbox"
    #: Where the outbox lives (ours): ``auto`` = the Redis stream in Redis mode, files
    #: otherwise; ``file``; ``redis`` (needs Redis mode). See ``outbox_store``.
    outbox_backend: str = "auto"
    #: The outbox directory (one per process, created if missing; WORKERS=N adds
    #: ``worker-<i>``). Relative to the working directory; the image should set
    #: /var/lib/stigg-sidecar/outbox on a volume.
    outbox_dir: str = "stigg-outbox"
    #: Capacity in bytes; when full, ReportEvents answers RESOURCE_EXHAUSTED.
    outbox_max_bytes: int = 256 * 1024 * 1024
    #: ReportUsage (ours; off by default): when the upstream is unreachable, accept usage
    #: into a second outbox (``<outbox dir>/usage``), answer locally, deliver later.
    usage_buffering: bool = False
    #: Events per upstream mutation (1-1000).
    outbox_batch_size: int = 1000
    #: Backoff between failed deliveries (ms): doubles from initial up to max, jittered.
    outbox_retry_initial_ms: int = 500
    outbox_retry_max_ms: int = 30_000
    #: Redis outbox: ms another sidecar's unacknowledged events must be idle before this
    #: one takes them over (a crashed sidecar's batch); keep it above
    #: API_TIMEOUT_MS + OUTBOX_RETRY_MAX_MS.
    outbox_claim_idle_ms: int = 120_000
    #: Worker processes sharing PORT and HTTP_PORT through SO_REUSEPORT, each with its own
    #: cache and real-time subscription (ours; issue: multi-core). 1 = a single process.
    workers: int = 1
    #: With OFFLINE=true: a JSON snapshot of entitlement states served with no network (ours).
    entitlements_snapshot_file: str | None = None

    @property
    def redis_mode(self) -> bool:
        return self.redis_environment_prefix is not None

    @property
    def outbox_store(self) -> str:
        """``redis`` or ``file``: ``OUTBOX_BACKEND`` with ``auto`` resolved (Redis in
        Redis mode unless offline)."""
        if self.outbox_backend == "auto":
            return "redis" if self.redis_mode and not self.offline else "file"
        return self.outbox_backend

    @property
    def realtime_enabled(self) -> bool:
        """Subscribe to real-time updates: in-memory mode, online, ``WS_ENABLED``."""
        return self.ws_enabled and not self.offline and not self.redis_mode


def _describe(error: dict[str, Any]) -> str:
    name = str(error["loc"][0]).upper() if error.get("loc") else "configuration"
    message = str(error.get("msg", "invalid value"))
    message = message.removeprefix("Value error, ")
    return f"invalid configuration: {name}: {message}"


def load_sidecar_settings() -> tuple[SidecarSettings, FallbackTable, list[str]]:
    """Settings from ``os.environ``, the parsed fallback table and start-up warnings.

    Raises ``ConfigurationError`` listing every invalid variable; secret values are
    never included in messages.
    """
    env = dict(os.environ)
    warnings: list[str] = []
    lines: list[str] = []
    settings: SidecarSettings | None = None
    try:
        settings = SidecarSettings()
    except ValidationError as error:
        lines.extend(_describe(item) for item in error.errors(include_input=False))
    table = FallbackTable({})
    try:
        table = parse_fallbacks(env.get("ENTITLEMENTS_FALLBACK"), warnings)
    except ValueError as error:
        lines.append(f"invalid configuration: ENTITLEMENTS_FALLBACK: {error}")
    if settings is not None:
        lines.extend(_cross_checks(settings))
        warnings.extend(_ignored(settings, env))
    if lines:
        raise ConfigurationError(lines)
    assert settings is not None
    return settings, table, warnings


def _present(secret: SecretStr | None) -> bool:
    return secret is not None and bool(secret.get_secret_value().strip())


def _api_key_lines(secret: SecretStr | None) -> list[str]:
    """A set key must be sendable as an HTTP header value (printable ASCII): a
    mis-pasted character would otherwise fail every upstream call. The key itself is
    never printed."""
    if secret is None or all(" " <= c <= "~" for c in secret.get_secret_value()):
        return []
    return ["invalid configuration: SERVER_API_KEY: must be printable ASCII "
            "(it is sent as a header); check for a mis-pasted character"]


def _cross_checks(settings: SidecarSettings) -> list[str]:
    lines = []
    if not _present(settings.server_api_key) and not settings.offline:
        lines.append("invalid configuration: SERVER_API_KEY: required unless OFFLINE=true")
    lines.extend(_api_key_lines(settings.server_api_key))
    if bool(settings.tls_cert_file) != bool(settings.tls_key_file):
        lines.append("invalid configuration: TLS_CERT_FILE: set both TLS_CERT_FILE and TLS_KEY_FILE, or neither")
    for name in ("tls_cert_file", "tls_key_file"):
        path = getattr(settings, name)
        if path and not Path(path).is_file():
            lines.append(f"invalid configuration: {name.upper()}: no readable file at {path}")
    snapshot = settings.entitlements_snapshot_file
    if settings.offline and snapshot:
        try:
            load_snapshot(Path(snapshot))
        except ValueError as error:
            lines.append(f"invalid configuration: ENTITLEMENTS_SNAPSHOT_FILE: {error}")
    if settings.workers > 1 and (settings.port == 0 or settings.http_port == 0):
        lines.append("invalid configuration: WORKERS: needs fixed PORT and HTTP_PORT (not 0) to share them")
    if settings.port == settings.http_port and settings.port != 0:
        lines.append("invalid configuration: HTTP_PORT: must differ from PORT")
    if settings.outbox_backend == "redis" and not settings.redis_mode:
        lines.append("invalid configuration: OUTBOX_BACKEND: redis needs Redis mode "
                     "(REDIS_ENVIRONMENT_PREFIX)")
    elif settings.outbox_backend == "redis" and settings.offline:
        lines.append("invalid configuration: OUTBOX_BACKEND: redis cannot be used with OFFLINE=true")
    return lines


def _ignored(settings: SidecarSettings, env: dict[str, str]) -> list[str]:
    warnings = [
        f"{name} is not read by this sidecar; use {instead}"
        for name, instead in NOT_READ.items()
        if env.get(name)
    ]
    redis_vars = sorted(k for k in env if k.startswith("REDIS_") and k != "REDIS_ENVIRONMENT_PREFIX" and env[k])
    if not settings.redis_mode and redis_vars:
        warnings.append(f"{', '.join(redis_vars)} ignored: REDIS_ENVIRONMENT_PREFIX is not set")
    if settings.redis_mode and env.get("WS_ENABLED"):
        warnings.append("WS_ENABLED is ignored in Redis mode")
    if (settings.events_mode == "outbox" and settings.outbox_store == "redis"
            and not settings.usage_buffering and env.get("OUTBOX_DIR")):
        warnings.append("OUTBOX_DIR is ignored: the event outbox is the Redis stream (OUTBOX_BACKEND)")
    if settings.events_mode == "passthrough" and (env.get("OUTBOX_BACKEND") or env.get("OUTBOX_DIR")):
        warnings.append("OUTBOX_BACKEND and OUTBOX_DIR are ignored with EVENTS_MODE=passthrough"
                        " (unless USAGE_BUFFERING uses OUTBOX_DIR)")
    if (settings.events_mode == "outbox" and settings.outbox_store == "redis"
            and settings.outbox_claim_idle_ms < settings.api_timeout_ms + settings.outbox_retry_max_ms):
        warnings.append("OUTBOX_CLAIM_IDLE_MS is below API_TIMEOUT_MS + OUTBOX_RETRY_MAX_MS: another"
                        " sidecar may take over events this one is still sending (sent twice,"
                        " deduplicated upstream)")
    if settings.offline:
        warnings.append("OFFLINE=true: WebSocket and Redis settings are ignored; no network is used"
                        + ("; USAGE_BUFFERING has nothing to buffer" if settings.usage_buffering else ""))
    elif settings.entitlements_snapshot_file:
        warnings.append("ENTITLEMENTS_SNAPSHOT_FILE is ignored unless OFFLINE=true")
    return warnings


class PersistentCacheSettings(_EnvSettings):
    """``stigg-persistent-cache`` (configuration.md §3)."""

    #: Stigg's name for the TTL; ``REDIS_KEYS_TTL_IN_SECS`` is an alias (must agree).
    keys_ttl_in_secs: int | None = None
    http_port: int = 8081
    bind_address: str = "0.0.0.0"
    #: ``upsert`` (default) writes updates for customers not yet in Redis;
    #: ``update-if-exists`` only refreshes entries sidecars have already fetched.
    cache_update_policy: str = "upsert"
    api_timeout_ms: int = 30_000
    shutdown_grace_ms: int = 10_000

    @property
    def ttl_s(self) -> int:
        return self.keys_ttl_in_secs if self.keys_ttl_in_secs is not None else self.redis_keys_ttl_in_secs


def load_persistent_cache_settings() -> tuple[PersistentCacheSettings, list[str]]:
    """Settings of the persistent cache service from ``os.environ``, and warnings.

    Raises ``ConfigurationError`` listing every invalid variable.
    """
    env = dict(os.environ)
    lines: list[str] = []
    settings: PersistentCacheSettings | None = None
    try:
        settings = PersistentCacheSettings()
    except ValidationError as error:
        lines.extend(_describe(item) for item in error.errors(include_input=False))
    if settings is not None:
        if not _present(settings.server_api_key):
            lines.append("invalid configuration: SERVER_API_KEY: required")
        lines.extend(_api_key_lines(settings.server_api_key))
        if not settings.redis_environment_prefix:
            lines.append("invalid configuration: REDIS_ENVIRONMENT_PREFIX: required")
        if (settings.keys_ttl_in_secs is not None and env.get("REDIS_KEYS_TTL_IN_SECS")
                and settings.keys_ttl_in_secs != settings.redis_keys_ttl_in_secs):
            lines.append("invalid configuration: KEYS_TTL_IN_SECS: differs from its alias "
                         "REDIS_KEYS_TTL_IN_SECS; set one of them")
    if lines:
        raise ConfigurationError(lines)
    assert settings is not None
    return settings, []
