"""RedisGuard's deadline watchdog (one timer for every command in flight): a command
past ``timeout_s`` fails as unavailable, never later than ``timeout_s``; the caller's own
cancellation stays a cancellation; nothing is left scheduled once the commands are done.

No Redis here: the commands are coroutines that wait or fail on cue (the guard's
contract is about awaitables; tests/integration/redis covers it against redis-server).
"""
from __future__ import annotations

import asyncio
import time

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from adapters.outbound.redis_guard import RedisGuard
from ports.errors import CacheUnavailableError
from tests.fakes.clock import FixedClock

TIMEOUT_S = 0.2


def make_guard(timeout_s: float = TIMEOUT_S, errors: list | None = None) -> RedisGuard:
    errors = [] if errors is None else errors
    return RedisGuard(FixedClock(), timeout_s, lambda: errors.append(1), skip_s=0.0)


async def answer_after(seconds: float, value: object = b"v") -> object:
    await asyncio.sleep(seconds)
    return value


async def test_a_command_in_time_returns_its_value_with_its_arguments():
    guard = make_guard()
    assert await guard.run("read", answer_after, 0.0, b"x") == b"x"
    assert await guard.run("read", lambda: answer_after(0.0)) == b"v"


async def test_a_command_past_the_timeout_fails_as_unavailable_within_the_bound():
    errors: list = []
    guard = make_guard(errors=errors)
    started = time.monotonic()
    with pytest.raises(CacheUnavailableError, match=r"redis read: TimeoutError: no reply within 0.2 s"):
        await guard.run("read", answer_after, 10.0)
    took = time.monotonic() - started
    tick = min(0.05, TIMEOUT_S / 4)
    assert TIMEOUT_S - 0.005 <= took <= TIMEOUT_S + tick + 0.05  # its whole bound, ≤ a tick more
    assert errors == [1]
    assert asyncio.current_task().cancelling() == 0  # the guard's cancel was taken back


async def test_only_the_slow_commands_of_many_time_out():
    guard = make_guard()

    async def one(i: int) -> str:
        try:
            await guard.run("read", answer_after, 10.0 if i % 5 == 0 else 0.01 * (i % 3))
            return "ok"
        except CacheUnavailableError:
            return "timeout"

    results = await asyncio.gather(*(one(i) for i in range(50)))
    assert results.count("timeout") == 10
    assert results.count("ok") == 40


async def test_the_callers_own_cancellation_is_not_turned_into_a_timeout():
    guard = make_guard(timeout_s=5.0)
    task = asyncio.ensure_future(guard.run("read", answer_after, 10.0))
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_cancellation_arriving_with_the_timeout_stays_a_cancellation():
    guard = make_guard(timeout_s=5.0)
    outer = asyncio.current_task()

    async def cancel_at_deadline() -> None:
        await asyncio.sleep(0.01)
        guard._in_flight[0][1] = 0.0  # its deadline has passed: the next look cancels it
        outer.cancel()  # and, in the same instant, the caller cancels too
        guard._look()

    helper = asyncio.ensure_future(cancel_at_deadline())
    with pytest.raises(asyncio.CancelledError):
        await guard.run("read", answer_after, 10.0)
    outer.uncancel()
    await helper


async def test_redis_errors_fail_as_unavailable_and_are_counted():
    errors: list = []
    guard = make_guard(errors=errors)

    async def refused() -> None:
        raise RedisConnectionError("connection refused")

    with pytest.raises(CacheUnavailableError, match="redis write: ConnectionError: connection refused"):
        await guard.run("write", refused)
    assert errors == [1]


async def test_the_watchdog_stops_when_nothing_is_in_flight_and_close_keeps_the_bound():
    guard = make_guard(timeout_s=0.08)
    await asyncio.gather(*(guard.run("read", answer_after, 0.0) for _ in range(10)))
    await asyncio.sleep(0.05)  # a tick later the watchdog finds nothing and stops
    assert guard._watchdog is None and not guard._in_flight
    stuck = asyncio.ensure_future(guard.run("read", answer_after, 10.0))
    await asyncio.sleep(0)
    await guard.aclose()  # a command still in flight keeps its bound
    with pytest.raises(CacheUnavailableError, match="TimeoutError"):
        await asyncio.wait_for(stuck, 1.0)
    await asyncio.sleep(0.05)
    assert guard._watchdog is None


async def test_the_cancellation_is_taken_back_when_a_command_swallows_it():
    """A command that absorbs the cancel (or turns it into another error) must not leave
    the task cancelling: a later asyncio.timeout in it would raise CancelledError."""
    guard = make_guard(timeout_s=0.08)

    async def stubborn() -> bytes:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return b"late"
        return b"never"

    assert await guard.run("read", stubborn) == b"late"
    assert asyncio.current_task().cancelling() == 0
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await asyncio.sleep(1)


def test_a_guard_moved_to_a_new_event_loop_still_times_out():
    """A command left in flight on a closed loop must not stop the watchdog on the next."""
    guard = make_guard(timeout_s=0.08)

    async def leave_one_in_flight() -> asyncio.Future:
        stuck = asyncio.ensure_future(guard.run("read", answer_after, 10.0))
        await asyncio.sleep(0)
        return stuck

    first = asyncio.new_event_loop()
    stuck = first.run_until_complete(leave_one_in_flight())  # the first loop stops with it

    async def on_the_second_loop() -> float:
        started = time.monotonic()
        with pytest.raises(CacheUnavailableError, match="TimeoutError"):
            await asyncio.wait_for(guard.run("read", answer_after, 10.0), 2.0)
        return time.monotonic() - started

    second = asyncio.new_event_loop()
    try:
        assert second.run_until_complete(on_the_second_loop()) < 0.5
    finally:
        second.close()
        stuck.cancel()
        first.run_until_complete(asyncio.gather(stuck, return_exceptions=True))
        first.close()
