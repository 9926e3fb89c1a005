"""The GC freeze policy (bootstrap/gc_policy.py): frozen objects are skipped by
collections, and frozen acyclic data is still freed when nothing refers to it."""
from __future__ import annotations

import gc
import weakref

import pytest

from bootstrap.gc_policy import FreezePolicy
from bootstrap.settings import ConfigurationError, load_sidecar_settings
from tests.fakes.builders import boolean, entitlement_set, metered


@pytest.fixture
def unfrozen():
    yield
    gc.unfreeze()


def test_start_up_is_frozen_and_refcounting_still_frees_frozen_sets(unfrozen):
    cached = [entitlement_set(metered(f"m{i}", 10, 1), boolean("sso")) for i in range(100)]
    probe = weakref.ref(cached[0])
    FreezePolicy()
    assert gc.get_freeze_count() > 0
    assert not any(obj is cached for obj in gc.get_objects(2))  # collections skip it now
    del cached  # evicted: reference counting frees frozen, acyclic sets at once
    assert probe() is None


def test_a_tick_freezes_only_after_objects_were_promoted(unfrozen):
    policy = FreezePolicy()
    assert not policy.tick()  # nothing promoted since: the steady state costs nothing
    grown = [entitlement_set(boolean(f"f{i}")) for i in range(2000)]
    gc.collect(1)  # a generation-1 collection, as a growing heap triggers by itself
    before = gc.get_freeze_count()
    assert policy.tick() and gc.get_freeze_count() > before
    assert not policy.tick()
    del grown


@pytest.mark.parametrize("value, expected", [("0", 0), ("250", 250)])
def test_the_interval_setting(monkeypatch, value, expected):
    monkeypatch.setenv("SERVER_API_KEY", "sk-test")
    monkeypatch.setenv("GC_FREEZE_INTERVAL_MS", value)
    assert load_sidecar_settings()[0].gc_freeze_interval_ms == expected


def test_a_negative_interval_is_a_configuration_error(monkeypatch):
    monkeypatch.setenv("SERVER_API_KEY", "sk-test")
    monkeypatch.setenv("GC_FREEZE_INTERVAL_MS", "-1")
    with pytest.raises(ConfigurationError, match="GC_FREEZE_INTERVAL_MS"):
        load_sidecar_settings()


def test_the_frozen_count_walks_the_frozen_list_once_per_freeze(unfrozen, mocker):
    policy = FreezePolicy()
    walk = mocker.spy(gc, "get_freeze_count")
    first = policy.frozen_objects()
    assert [policy.frozen_objects() for _ in range(3)] == [first] * 3  # scrapes: no walk
    assert walk.call_count == 1
    grown = [entitlement_set(boolean(f"f{i}")) for i in range(2000)]
    gc.collect(1)
    assert policy.tick()
    assert policy.frozen_objects() > first and walk.call_count == 2
    del grown
