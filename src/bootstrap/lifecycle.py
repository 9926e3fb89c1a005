"""Process lifecycle shared by both commands: signals, start/stop ordering, DI futures."""
from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import Any, Awaitable, Callable

log = logging.getLogger("sidecar")


async def run_until_signalled(
    start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]]
) -> None:
    """``start``; serve until SIGTERM/SIGINT; ``stop``. A second signal exits at once with
    status 1. If ``start`` fails, ``stop`` still releases whatever did start."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stopping.is_set():
            log.warning("second signal: exiting now")
            os._exit(1)
        stopping.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    try:
        await start()
    except BaseException:
        await stop()
        raise
    await stopping.wait()
    await stop()


async def resolve(value: Any) -> Any:
    """Providers downstream of an async resource return awaitables (design.md §6 item 7)."""
    if asyncio.isfuture(value) or asyncio.iscoroutine(value):
        return await value
    return value
