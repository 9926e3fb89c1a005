"""Two real clients behind one call shape, so each vector runs through both:
our generated stubs (grpcio) and the official ``stigg-sidecar-sdk`` (grpclib + betterproto).

Both take and return *our* protobuf messages; the SDK caller converts them to the SDK's
betterproto classes by their wire bytes, which is exactly what wire compatibility means.
"""
from __future__ import annotations

import re
from typing import Any

import grpc
import stigg_sidecar_sdk as sdk
from stigg_sidecar_sdk import ApiConfig, Stigg

from sidecarpb.v1 import sidecar_pb2 as pb
from sidecarpb.v1 import sidecar_pb2_grpc

RPCS = (
    "GetEntitlements", "GetEntitlement", "GetBooleanEntitlement", "GetNumericEntitlement",
    "GetMeteredEntitlement", "GetEnumEntitlement", "ReportUsage", "ReportEvents",
    "ReloadEntitlements", "ReportUsageBulk", "GetEntitlementV2", "GetEntitlementsStateV2",
)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower().replace("v_2", "v2")


class StubCaller:
    name = "stubs"

    def __init__(self, port: int) -> None:
        self._channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        self._stub = sidecar_pb2_grpc.SidecarServiceStub(self._channel)

    async def call(self, rpc: str, request: Any, timeout: float = 10.0) -> Any:
        return await getattr(self._stub, rpc)(request, timeout=timeout)

    async def close(self) -> None:
        await self._channel.close()


class SdkCaller:
    """The official client, constructed as its docs say; the API key is never used here."""

    name = "official-sdk"

    def __init__(self, port: int) -> None:
        self.client = Stigg(
            ApiConfig(api_key="unused-by-sidecar-tests"),
            remote_sidecar_host="127.0.0.1",
            remote_sidecar_port=port,
        )

    async def call(self, rpc: str, request: Any, timeout: float = 10.0) -> Any:
        sdk_request = getattr(sdk, type(request).__name__)().parse(request.SerializeToString())
        response = await getattr(self.client, _snake(rpc))(sdk_request, timeout=timeout)
        response_type = type(request).__name__.replace("Request", "Response")
        if rpc == "ReportEvents":
            from google.protobuf import empty_pb2

            return empty_pb2.Empty.FromString(bytes(response))
        return getattr(pb, response_type).FromString(bytes(response))

    async def close(self) -> None:
        self.client.close()


CALLERS = {"stubs": StubCaller, "official-sdk": SdkCaller}
