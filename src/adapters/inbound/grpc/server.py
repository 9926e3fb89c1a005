"""The grpc.aio server: the sidecar service, standard health and reflection."""
from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from adapters.inbound.grpc.servicer import SidecarServicer
from sidecarpb.v1 import sidecar_pb2, sidecar_pb2_grpc

SERVICE_NAME = sidecar_pb2.DESCRIPTOR.services_by_name["SidecarService"].full_name
#: Largest inbound message accepted, in bytes (our choice: a bulk request of 1000 events
#: with dimensions fits easily; anything larger is refused with RESOURCE_EXHAUSTED).
MAX_RECEIVE_MESSAGE_BYTES = 16 * 1024 * 1024


class GrpcServer:
    """Owns the grpc.aio server. ``port`` is the bound port after ``start``."""

    def __init__(self, servicer: SidecarServicer, host: str, port: int) -> None:
        self._server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", MAX_RECEIVE_MESSAGE_BYTES),
                ("grpc.so_reuseport", 0),
            ]
        )
        sidecar_pb2_grpc.add_SidecarServiceServicer_to_server(servicer, self._server)
        self._gate = servicer.gate
        self.health = health_aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
             reflection.SERVICE_NAME),
            self._server,
        )
        self.port = self._server.add_insecure_port(f"{host}:{port}")
        if self.port == 0:
            raise OSError(f"could not bind the gRPC port {host}:{port}")

    async def start(self) -> None:
        await self._server.start()

    async def set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", SERVICE_NAME):
            await self.health.set(name, status)

    async def stop(self, grace_s: float) -> None:
        """Health NOT_SERVING first; then refuse new RPCs with UNAVAILABLE while in-flight
        ones finish (within ``grace_s`` seconds in all); then close the listener."""
        await self.health.enter_graceful_shutdown()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_s
        await self._gate.drain(grace_s)
        await self._server.stop(max(0.0, deadline - loop.time()))
