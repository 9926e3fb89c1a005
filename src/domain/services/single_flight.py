"""In-process single-flight: concurrent callers for one key share one running fetch."""
from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, Generic, Hashable, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """reference: caching-and-redis.md §2.2 — waiters get the same result or the same error.

    The shared fetch runs in its own task, so a cancelled caller (e.g. its gRPC deadline
    passed) never cancels the fetch for the others.
    """

    def __init__(self) -> None:
        self._flights: dict[Hashable, asyncio.Task[T]] = {}

    async def run(self, key: Hashable, fetch: Callable[[], Awaitable[T]]) -> T:
        task = self._flights.get(key)
        if task is None:
            task = asyncio.ensure_future(fetch())
            self._flights[key] = task
            task.add_done_callback(lambda done, k=key: self._forget(k, done))
        return await asyncio.shield(task)

    def _forget(self, key: Hashable, task: asyncio.Task[T]) -> None:
        if self._flights.get(key) is task:
            del self._flights[key]
        if not task.cancelled():
            task.exception()  # mark retrieved: waiters may all have gone

    def __len__(self) -> int:
        return len(self._flights)
