"""Graceful drain: count in-flight RPCs and refuse new ones once draining.

Why not only ``grpc.aio.Server.stop(grace)``: it sends HTTP/2 GOAWAY at once, and some
clients (grpclib, used by the official Python SDK) then drop their in-flight streams.
Draining first — refusing new calls with ``UNAVAILABLE`` while the running ones finish —
lets every accepted call complete before the GOAWAY.
"""
from __future__ import annotations

import asyncio


class DrainGate:
    """``enter``/``leave`` around every call (two integer updates: the hot path); the
    idle event is only set once draining has begun and the last call left."""

    def __init__(self) -> None:
        self._in_flight = 0
        self._draining = False
        self._idle = asyncio.Event()

    @property
    def draining(self) -> bool:
        return self._draining

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def enter(self) -> bool:
        """Admit one call; ``False`` when draining (the caller answers ``UNAVAILABLE``)."""
        if self._draining:
            return False
        self._in_flight += 1
        return True

    def leave(self) -> None:
        self._in_flight -= 1
        if self._draining and not self._in_flight:
            self._idle.set()

    async def drain(self, timeout_s: float) -> bool:
        """Refuse new calls, then wait up to ``timeout_s`` seconds for running ones; ``True``
        if all finished."""
        self._draining = True
        if not self._in_flight:
            return True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            return False
        return True
