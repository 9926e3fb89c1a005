"""The floor server: the sidecar's own gRPC server with a servicer that does no work.

``python -m bench.floor --responses FILE [--redis-port P --redis-key K]``

The server is built by ``adapters.inbound.grpc.server.GrpcServer`` (the class the
sidecar uses: same grpc.aio options and method registration, health and reflection), on
the same event loop (``bootstrap.event_loop.run`` with ``EVENT_LOOP`` from the
environment, as ``bootstrap.__main__``), so its settings cannot drift from the sidecar's. Each configured method returns a prebuilt
response (read once from FILE: ``{"MethodName": "<base64 of serialized response>"}``;
the runner captures these from the real sidecar, so both answer the same bytes). With
``--redis-port``, each call first does one Redis ``GET`` of ``--redis-key`` through the
sidecar's own Redis client (``bootstrap.resources.redis_client``): the floor of a Redis
cache hit. Methods not in FILE answer UNIMPLEMENTED.

Prints one JSON line ``{"message": "Floor is ready", "grpc_port": N, "pid": N}``, serves
until SIGTERM/SIGINT.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from google.protobuf.message_factory import GetMessageClass

from adapters.inbound.grpc.drain import DrainGate
from adapters.inbound.grpc.server import GrpcServer
from bootstrap import event_loop
from sidecarpb.v1 import sidecar_pb2, sidecar_pb2_grpc

SERVICE = sidecar_pb2.DESCRIPTOR.services_by_name["SidecarService"]


def load_responses(path: Path) -> dict[str, bytes]:
    """Method name → prebuilt response, serialized (as the sidecar's methods return
    theirs: ``server.sidecar_handlers`` registers no response serializer). Each one is
    checked to parse as the method's response message."""
    raw = json.loads(path.read_text())
    responses = {}
    for name, encoded in raw.items():
        method = SERVICE.methods_by_name[name]
        response = base64.b64decode(encoded)
        GetMessageClass(method.output_type).FromString(response)
        responses[name] = response
    return responses


class FloorServicer(sidecar_pb2_grpc.SidecarServiceServicer):
    """No-op servicer: configured methods return their prebuilt response (bytes).

    ``gate`` is what ``GrpcServer`` expects of a servicer (drain on stop)."""

    def __init__(self, responses: dict[str, bytes], redis: Any = None, redis_key: str = "") -> None:
        self.gate = DrainGate()
        for name, response in responses.items():
            setattr(self, name, self._handler(response, redis, redis_key))

    @staticmethod
    def _handler(response: bytes, redis: Any, key: str):
        if redis is None:
            async def answer(request, context):  # noqa: ANN001 - grpc handler
                return response
        else:
            async def answer(request, context):  # noqa: ANN001
                await redis.get(key)
                return response
        return answer


async def serve(responses: dict[str, bytes], redis_port: int | None, redis_key: str) -> None:
    async with AsyncExitStack() as stack:
        redis = None
        if redis_port is not None:
            from bootstrap import resources

            redis = await stack.enter_async_context(_resource(resources.redis_client(
                host="127.0.0.1", port=redis_port, db=0, username=None, password=None, tls=False)))
            await redis.get(redis_key)  # connect before serving
        server = GrpcServer(FloorServicer(responses, redis, redis_key), "127.0.0.1", 0)
        await server.start()
        await server.set_serving(True)
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        print(json.dumps({"message": "Floor is ready", "grpc_port": server.port,
                          "pid": os.getpid()}), flush=True)
        await stopping.wait()
        await server.stop(1.0)


class _resource:
    """An async-generator resource (as bootstrap.resources defines them) as a context."""

    def __init__(self, generator: Any) -> None:
        self._generator = generator

    async def __aenter__(self) -> Any:
        return await self._generator.__anext__()

    async def __aexit__(self, *exc: Any) -> None:
        try:
            await self._generator.__anext__()
        except StopAsyncIteration:
            pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__.split("\n")[0])
    parser.add_argument("--responses", type=Path, required=True)
    parser.add_argument("--redis-port", type=int)
    parser.add_argument("--redis-key", default="bench:floor")
    parser.add_argument("--wait", type=float, default=0.0,
                        help="seconds to wait for FILE to appear (the runner starts the floor "
                             "while it captures the sidecar's answers)")
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.wait
    while not args.responses.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    event_loop.run(serve(load_responses(args.responses), args.redis_port, args.redis_key),
                   os.environ.get("EVENT_LOOP", "auto").strip().lower() or "auto")
    return 0


if __name__ == "__main__":
    sys.exit(main())
