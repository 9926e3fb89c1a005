"""The grpc.aio server: the sidecar service, standard health and reflection."""
from __future__ import annotations

import asyncio
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from adapters.inbound.grpc.servicer import SidecarServicer
from sidecarpb.v1 import sidecar_pb2

SERVICE_NAME = sidecar_pb2.DESCRIPTOR.services_by_name["SidecarService"].full_name
#: Largest inbound message accepted, in bytes (our choice: a bulk request of 1000 events
#: with dimensions fits easily; anything larger is refused with RESOURCE_EXHAUSTED).
MAX_RECEIVE_MESSAGE_BYTES = 16 * 1024 * 1024


def sidecar_handlers(servicer: Any) -> grpc.GenericRpcHandler:
    """The SidecarService's method handlers, as the generated registration builds them
    but with neither a request deserializer nor a response serializer: each method gets
    the request's bytes, parses them itself and returns the response's bytes
    (``servicer._rpc``: the request bytes key the response memo, which keeps serialized
    responses; undecodable bytes answer INVALID_ARGUMENT instead of grpc's UNKNOWN with a
    traceback). ``servicer``: any object with one such method per RPC."""
    service = sidecar_pb2.DESCRIPTOR.services_by_name["SidecarService"]
    handlers = {}
    for method in service.methods:
        handlers[method.name] = grpc.unary_unary_rpc_method_handler(
            getattr(servicer, method.name),
            request_deserializer=None,
            response_serializer=None,
        )
    return grpc.method_handlers_generic_handler(service.full_name, handlers)


class GrpcServer:
    """Owns the grpc.aio server. ``port`` is the bound port after ``start``."""

    def __init__(
        self,
        servicer: SidecarServicer,
        host: str,
        port: int,
        tls: tuple[bytes, bytes] | None = None,
        *,
        reuse_port: bool = False,
    ) -> None:
        """``tls`` is ``(private key PEM, certificate chain PEM)``; ``None`` is plaintext h2c.
        ``reuse_port`` lets several worker processes share the port (SO_REUSEPORT); off,
        a second process on the same port fails to start instead of splitting traffic."""
        self._server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", MAX_RECEIVE_MESSAGE_BYTES),
                ("grpc.so_reuseport", 1 if reuse_port else 0),
            ]
        )
        self._server.add_generic_rpc_handlers((sidecar_handlers(servicer),))
        self._gate = servicer.gate
        self.health = health_aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
             reflection.SERVICE_NAME),
            self._server,
        )
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            if tls is None:
                self.port = self._server.add_insecure_port(address)
            else:
                credentials = grpc.ssl_server_credentials([tls])
                self.port = self._server.add_secure_port(address, credentials)
        except RuntimeError as error:  # grpcio raises instead of returning 0 nowadays
            raise OSError(f"could not bind the gRPC port {address}") from error
        if self.port == 0:
            raise OSError(f"could not bind the gRPC port {address}")

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
