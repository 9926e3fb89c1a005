"""Our contract is wire-compatible with the official client's generated module: same
services, methods, messages, field numbers and enum numbers (grpc-contract.md)."""
from __future__ import annotations

import dataclasses

import pytest
import stigg_sidecar_sdk.generated.stigg.sidecar.v1 as official

from sidecarpb.v1 import sidecar_pb2 as pb

MESSAGES = sorted(pb.DESCRIPTOR.message_types_by_name)
ENUMS = sorted(pb.DESCRIPTOR.enum_types_by_name)


@pytest.mark.parametrize("name", MESSAGES)
def test_message_fields_match_official_client(name: str) -> None:
    ours = pb.DESCRIPTOR.message_types_by_name[name]
    theirs = getattr(official, name)
    meta = {f.name: f.metadata["betterproto"] for f in dataclasses.fields(theirs)}
    assert set(meta) == {f.name for f in ours.fields}, name
    for field in ours.fields:
        theirs_field = meta[field.name]
        assert theirs_field.number == field.number, f"{name}.{field.name}"
        # proto3 `optional` scalars carry presence in both views.
        oneof = field.containing_oneof
        in_real_oneof = oneof is not None and not oneof.name.startswith("_")
        if field.type != field.TYPE_MESSAGE and not field.is_repeated and not in_real_oneof:
            assert bool(theirs_field.optional) == field.has_presence, f"{name}.{field.name}"


@pytest.mark.parametrize("name", ENUMS)
def test_enum_numbers_match_official_client(name: str) -> None:
    ours = {v.name: v.number for v in pb.DESCRIPTOR.enum_types_by_name[name].values}
    theirs = {member.name: member.value for member in getattr(official, name)}
    assert ours == theirs


def test_service_methods_match_official_client() -> None:
    service = pb.DESCRIPTOR.services_by_name["SidecarService"]
    assert service.full_name == "stigg.sidecar.v1.SidecarService"
    ours = [m.name for m in service.methods]
    stub_methods = {n for n in dir(official.SidecarServiceStub) if not n.startswith("_")}
    snake = {"".join("_" + c.lower() if c.isupper() else c for c in m).lstrip("_").replace("v_2", "v2")
             for m in ours}
    assert len(ours) == 12
    assert snake <= stub_methods
