"""Optional TLS on the gRPC port (TLS_CERT_FILE / TLS_KEY_FILE)."""
from __future__ import annotations

import subprocess

import grpc
import pytest
from stigg_emulator import feature

from sidecarpb.v1 import sidecar_pb2 as pb
from sidecarpb.v1 import sidecar_pb2_grpc
from support.sidecar import base_env, running_sidecar


@pytest.fixture
def certificate(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return key, cert


async def test_tls_port_serves_tls_clients_only(emulator, monkeypatch, certificate):
    """Generated stubs only: the official client speaks plaintext (or its expired legacy CA)."""
    key, cert = certificate
    emulator.set_customer("acme", [feature("sso")])
    env = base_env(emulator.base_url) | {"TLS_CERT_FILE": str(cert), "TLS_KEY_FILE": str(key)}
    async with running_sidecar(monkeypatch, env) as app:
        credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        async with grpc.aio.secure_channel(f"127.0.0.1:{app.grpc_port}", credentials) as channel:
            r = await sidecar_pb2_grpc.SidecarServiceStub(channel).GetBooleanEntitlement(
                pb.GetBooleanEntitlementRequest(customer_id="acme", feature_id="sso"), timeout=5)
            assert r.has_access
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as plain:
            with pytest.raises(grpc.aio.AioRpcError):
                await sidecar_pb2_grpc.SidecarServiceStub(plain).GetBooleanEntitlement(
                    pb.GetBooleanEntitlementRequest(customer_id="acme", feature_id="sso"), timeout=2)
