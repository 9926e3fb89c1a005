"""Helpers of the tests that drive real sidecar processes over gRPC."""
from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Awaitable, Callable

import grpc

from sidecarpb.v1 import sidecar_pb2_grpc


@asynccontextmanager
async def stub_at(port: int) -> AsyncIterator[sidecar_pb2_grpc.SidecarServiceStub]:
    """A generated stub on a fresh channel to 127.0.0.1:``port``."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield sidecar_pb2_grpc.SidecarServiceStub(channel)


async def eventually(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Poll ``condition`` every 0.1 s; ``AssertionError`` naming ``what`` after ``timeout`` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def on_port(processes: Callable[[dict[str, str]], Awaitable[tuple[Any, dict]]],
                  env: dict[str, str]) -> tuple[Any, int]:
    """``(child, grpc port)`` of a sidecar started by the ``processes`` fixture."""
    child, ready = await processes(env)
    return child, ready["grpc_port"]
