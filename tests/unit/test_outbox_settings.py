"""OUTBOX_BACKEND and OUTBOX_CLAIM_IDLE_MS: parsing, resolution of ``auto``, the cross
checks, and which outbox the container builds (no I/O: providers are inspected only)."""
from __future__ import annotations

import pytest

from bootstrap import resources
from bootstrap.containers import build_sidecar_container
from bootstrap.settings import ConfigurationError, load_sidecar_settings


@pytest.fixture
def env(monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith(("REDIS_", "OUTBOX_", "EVENTS_", "OFFLINE")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SERVER_API_KEY", "sk-test")

    def set_(**values: str):
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        return load_sidecar_settings()

    return set_


@pytest.mark.parametrize("variables, store", [
    ({}, "file"),
    ({"REDIS_ENVIRONMENT_PREFIX": "prod"}, "redis"),
    ({"REDIS_ENVIRONMENT_PREFIX": "prod", "OFFLINE": "true"}, "file"),
    ({"REDIS_ENVIRONMENT_PREFIX": "prod", "OUTBOX_BACKEND": "file"}, "file"),
    ({"REDIS_ENVIRONMENT_PREFIX": "prod", "OUTBOX_BACKEND": " Redis "}, "redis"),
    ({"OUTBOX_BACKEND": "AUTO"}, "file"),
], ids=["memory-mode", "redis-mode", "offline", "file-forced", "redis-forced", "auto"])
def test_auto_means_redis_in_redis_mode_and_files_otherwise(env, variables, store):
    settings, _, _ = env(**variables)
    assert settings.outbox_store == store


@pytest.mark.parametrize("variables, text", [
    ({"OUTBOX_BACKEND": "s3"}, 'OUTBOX_BACKEND: expected one of auto, file, redis, got "s3"'),
    ({"OUTBOX_BACKEND": "redis"}, "OUTBOX_BACKEND: redis needs Redis mode"),
    ({"OUTBOX_BACKEND": "redis", "REDIS_ENVIRONMENT_PREFIX": "p", "OFFLINE": "true"},
     "OUTBOX_BACKEND: redis cannot be used with OFFLINE=true"),
    ({"OUTBOX_CLAIM_IDLE_MS": "0"}, "OUTBOX_CLAIM_IDLE_MS: expected an integer > 0"),
])
def test_bad_outbox_settings_are_configuration_errors(env, variables, text):
    with pytest.raises(ConfigurationError) as caught:
        env(**variables)
    assert any(text in line for line in caught.value.lines), caught.value.lines


def test_outbox_dir_is_reported_as_ignored_with_the_redis_outbox(env):
    _, _, warnings = env(REDIS_ENVIRONMENT_PREFIX="prod", OUTBOX_DIR="/var/outbox")
    assert any("OUTBOX_DIR is ignored" in w for w in warnings)
    _, _, warnings = env(REDIS_ENVIRONMENT_PREFIX="prod", OUTBOX_DIR="/var/outbox", OUTBOX_BACKEND="file")
    assert not any("OUTBOX_DIR" in w for w in warnings)


def test_risky_or_pointless_outbox_combinations_are_warned_about(env):
    _, _, warnings = env(REDIS_ENVIRONMENT_PREFIX="prod", OUTBOX_CLAIM_IDLE_MS="100",
                         API_TIMEOUT_MS="2000")
    assert any("OUTBOX_CLAIM_IDLE_MS is below" in w for w in warnings)
    _, _, warnings = env(OUTBOX_CLAIM_IDLE_MS="120000", API_TIMEOUT_MS="30000")  # the defaults
    assert not any("OUTBOX_CLAIM_IDLE_MS" in w for w in warnings)
    _, _, warnings = env(EVENTS_MODE="passthrough", OUTBOX_BACKEND="redis",
                         REDIS_ENVIRONMENT_PREFIX="prod")
    assert any("ignored with EVENTS_MODE=passthrough" in w for w in warnings)
    _, _, warnings = env(EVENTS_MODE="outbox", OUTBOX_BACKEND="auto", OFFLINE="true",
                         USAGE_BUFFERING="true")
    assert any("USAGE_BUFFERING has nothing to buffer" in w for w in warnings)


@pytest.mark.parametrize("variables, factory", [
    ({"REDIS_ENVIRONMENT_PREFIX": "prod"}, resources.redis_event_outbox),
    ({"REDIS_ENVIRONMENT_PREFIX": "prod", "OUTBOX_BACKEND": "file"}, resources.event_outbox),
    ({}, resources.event_outbox),
])
def test_the_container_builds_the_chosen_outbox(env, variables, factory):
    settings, fallbacks, _ = env(EVENTS_MODE="outbox", **variables)
    container = build_sidecar_container(settings, fallbacks)
    overriding = container.event_outbox.last_overriding
    assert overriding is not None and overriding.provides.__name__ == factory.__name__
    if factory is resources.redis_event_outbox:
        assert overriding.kwargs["client"] is container.cache.last_overriding.kwargs["client"], \
            "the cache and the outbox share one Redis client"


@pytest.mark.parametrize("key", ["sk-t\u00e9st", "sk-\u2013test", "sk-\ttest"])
def test_an_api_key_that_cannot_be_a_header_is_a_configuration_error(env, monkeypatch, key):
    monkeypatch.setenv("SERVER_API_KEY", key)
    with pytest.raises(ConfigurationError) as raised:
        load_sidecar_settings()
    text = str(raised.value)
    assert "SERVER_API_KEY: must be printable ASCII" in text and key.strip() not in text


def test_the_persistent_cache_service_checks_its_api_key_too(env, monkeypatch):
    from bootstrap.settings import load_persistent_cache_settings

    monkeypatch.setenv("SERVER_API_KEY", "sk-t\u00e9st")
    monkeypatch.setenv("REDIS_ENVIRONMENT_PREFIX", "test-env")
    with pytest.raises(ConfigurationError, match="SERVER_API_KEY: must be printable ASCII"):
        load_persistent_cache_settings()
