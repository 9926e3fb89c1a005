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


def test_a_tick_freezes_only_once_the_old_generation_has_grown(unfrozen):
    policy = FreezePolicy(min_growth_blocks=5_000)
    assert not policy.tick()  # nothing promoted since: the steady state costs nothing
    grown = [entitlement_set(boolean(f"f{i}")) for i in range(2000)]
    gc.collect(1)
    gc.collect(1)  # promoted into the old generation, as a growing heap does by itself
    before = gc.get_freeze_count()
    assert policy.tick() and gc.get_freeze_count() > before
    assert not policy.tick()
    del grown


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_churn_with_promotions_but_no_growth_freezes_nothing(unfrozen):
    """Request churn runs generation-1 collections without the heap growing (the bug:
    each such freeze kept the calls' reference cycles for good)."""
    policy = FreezePolicy(min_growth_blocks=5_000)
    before = gc.get_freeze_count()
    for _ in range(20):
        finished = [Cycle() for _ in range(500)]
        in_flight = [Cycle() for _ in range(20)]
        del finished
        gc.collect(1)  # as churn runs them: the calls in flight are promoted
        del in_flight
        assert not policy.tick()
    assert gc.get_freeze_count() <= before


def test_garbage_cycles_are_collected_not_frozen(unfrozen):
    policy = FreezePolicy(min_growth_blocks=1)
    promoted = [Cycle() for _ in range(500)]  # calls still running at a collection…
    gc.collect(1)
    gc.collect(1)
    old_probe = weakref.ref(promoted[0])
    del promoted  # … ended since: garbage in the old generation
    kept = [entitlement_set(boolean(f"f{i}")) for i in range(200)]
    gc.collect(1)
    young = [Cycle() for _ in range(500)]
    young_probe = weakref.ref(young[0])
    del young  # garbage not yet collected at all
    assert policy.tick()
    assert old_probe() is None and young_probe() is None
    del kept


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
    policy = FreezePolicy(min_growth_blocks=1_000)
    walk = mocker.spy(gc, "get_freeze_count")
    first = policy.frozen_objects()
    assert [policy.frozen_objects() for _ in range(3)] == [first] * 3  # scrapes: no walk
    assert walk.call_count == 1
    grown = [entitlement_set(boolean(f"f{i}")) for i in range(2000)]
    gc.collect(1)
    gc.collect(1)
    assert policy.tick()
    assert policy.frozen_objects() > first and walk.call_count == 2
    del grown
