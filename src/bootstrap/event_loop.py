"""Which asyncio event loop the processes run on (``EVENT_LOOP``).

``uvloop`` is libuv's loop: the same asyncio API, with callbacks, timers and socket
transports in C. grpc.aio, redis-py, httpx, websockets and aiohttp run on it unchanged.
Measured with the bench floor (a no-op grpc.aio servicer, h2load at concurrency 8 and
64), it takes about 10 % less server CPU per call than the standard loop
(docs/performance.md, "Event loop"). ``asyncio`` is the standard library's loop;
``auto`` (the default) is uvloop where it is installed (a dependency on Linux and
macOS), else asyncio.
"""
from __future__ import annotations

import asyncio
import importlib.util
from typing import Any, Callable, Coroutine, TypeVar

T = TypeVar("T")

#: The accepted values of ``EVENT_LOOP``, default first.
EVENT_LOOPS = ("auto", "uvloop", "asyncio")


def uvloop_installed() -> bool:
    return importlib.util.find_spec("uvloop") is not None


def resolve(name: str) -> str:
    """``uvloop`` or ``asyncio`` for a value of ``EVENT_LOOPS`` (``auto`` resolved).

    Raises ``ValueError`` for an unknown name, or for ``uvloop`` when it is not
    installed (the message names the variable's choices)."""
    if name not in EVENT_LOOPS:
        raise ValueError(f'expected one of {", ".join(EVENT_LOOPS)}, got "{name}"')
    if name == "auto":
        return "uvloop" if uvloop_installed() else "asyncio"
    if name == "uvloop" and not uvloop_installed():
        raise ValueError("uvloop is not installed; install it, or use auto or asyncio")
    return name


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The loop factory for ``name`` (``None``: the standard library's loop)."""
    if resolve(name) == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return None


def run(main: Coroutine[Any, Any, T], name: str) -> T:
    """``asyncio.run(main)`` on the loop ``name`` (one of ``EVENT_LOOPS``)."""
    with asyncio.Runner(loop_factory=loop_factory(name)) as runner:
        return runner.run(main)


def running_loop_name() -> str:
    """``uvloop`` or ``asyncio``: the loop this coroutine runs on (for the start-up log)."""
    return "uvloop" if type(asyncio.get_running_loop()).__module__.startswith("uvloop") else "asyncio"
