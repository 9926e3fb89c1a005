"""EVENT_LOOP: which loop the processes run on (bootstrap/event_loop.py)."""
from __future__ import annotations

import importlib.util

import pytest

from bootstrap import event_loop


async def _name() -> str:
    return event_loop.running_loop_name()


@pytest.mark.parametrize("name,expected", [("asyncio", "asyncio"), ("uvloop", "uvloop"),
                                           ("auto", "uvloop")])
def test_run_uses_the_named_loop(name, expected):
    assert event_loop.run(_name(), name) == expected


def test_auto_is_the_standard_loop_where_uvloop_is_missing(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda module, *a: None if module == "uvloop" else real(module, *a))
    assert event_loop.resolve("auto") == "asyncio"
    with pytest.raises(ValueError, match="uvloop is not installed"):
        event_loop.resolve("uvloop")


def test_an_unknown_name_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match='expected one of auto, uvloop, asyncio, got "tokio"'):
        event_loop.resolve("tokio")


async def test_the_async_tests_run_on_the_loop_asked_for():
    """tests/conftest.py: TEST_EVENT_LOOP=uvloop runs them on uvloop (make test does so
    for a second pass over the integration and some e2e tests)."""
    import os

    wanted = "uvloop" if os.environ.get("TEST_EVENT_LOOP") == "uvloop" else "asyncio"
    assert event_loop.running_loop_name() == wanted
