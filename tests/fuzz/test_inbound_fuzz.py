"""Property-based fuzzing of the gRPC inbound side (hypothesis): random and malformed
messages for every RPC, huge strings, deep dimension maps and raw garbage bytes never
crash or hang the server, never answer INTERNAL, and the server keeps serving."""
from __future__ import annotations

import grpc
import pytest
from google.protobuf.descriptor import FieldDescriptor as F
from google.protobuf.message_factory import GetMessageClass
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sidecarpb.v1 import sidecar_pb2 as pb
from support.processes import start_emulator, start_sidecar
from support.sidecar import API_KEY, base_env

pytestmark = pytest.mark.slow

SERVICE = pb.DESCRIPTOR.services_by_name["SidecarService"]
ALLOWED = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNAVAILABLE,
           grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION,
           grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNKNOWN}

TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "acme", "sso", "api-calls", "usd-credits", "a:r_b", "x#timestamp",
                     "line\nbreak", "\x00\x07\x1b[31m", "ü🙂", "../../etc?x=1#y"]),
    st.integers(1_000, 20_000).map(lambda n: "k" * n),
)
DOUBLE = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -1.0, 1e308]))
SCALARS = {
    F.TYPE_STRING: TEXT,
    F.TYPE_DOUBLE: DOUBLE,
    F.TYPE_BOOL: st.booleans(),
    F.TYPE_INT32: st.integers(-(2**31), 2**31 - 1),
    F.TYPE_INT64: st.integers(-(2**63), 2**63 - 1),
    F.TYPE_ENUM: st.integers(-3, 20),  # includes numbers no enum defines
}


@st.composite
def message(draw, descriptor, depth=0):
    cls = GetMessageClass(descriptor)
    instance = cls()
    if descriptor.full_name == "google.protobuf.Timestamp":
        instance.seconds = draw(st.integers(-(2**40), 2**40))
        instance.nanos = draw(st.integers(0, 999_999_999))
        return instance
    if descriptor.full_name == "google.protobuf.Struct":
        return instance
    for field in descriptor.fields:
        if depth > 3 or not draw(st.booleans()):
            continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            for key in draw(st.lists(TEXT, max_size=4 if depth else 120)):
                target = getattr(instance, field.name)
                if value_field.message_type is not None:
                    target[key].CopyFrom(draw(message(value_field.message_type, depth + 1)))
                else:
                    target[key] = draw(SCALARS[value_field.type])
            continue
        if field.message_type is not None:
            if field.is_repeated:
                items = draw(st.lists(message(field.message_type, depth + 1), max_size=3))
                getattr(instance, field.name).extend(items)
            else:
                getattr(instance, field.name).CopyFrom(draw(message(field.message_type, depth + 1)))
            continue
        strategy = SCALARS[field.type]
        if field.is_repeated:
            getattr(instance, field.name).extend(draw(st.lists(strategy, max_size=5)))
        else:
            setattr(instance, field.name, draw(strategy))
    return instance


@pytest.fixture(scope="module")
def channel():
    emulator, upstream = start_emulator(API_KEY)
    sidecar, ready = start_sidecar(base_env(upstream) | {"ENTITLEMENTS_TIMEOUT_MS": "500",
                                                         "API_TIMEOUT_MS": "1000", "LOG_LEVEL": "info"})
    with grpc.insecure_channel(f"127.0.0.1:{ready['grpc_port']}") as open_channel:
        yield open_channel
    code = sidecar.stop()
    emulator.stop()
    assert code == 0
    assert not any('"level": "error"' in line and "unhandled" in line for line in sidecar.lines)


def _call(channel, method, request_bytes: bytes):
    rpc = channel.unary_unary(f"/{SERVICE.full_name}/{method.name}")
    try:
        rpc(request_bytes, timeout=10)
        return grpc.StatusCode.OK
    except grpc.RpcError as error:
        return error.code()


def _still_serving(channel) -> None:
    reply = pb.GetBooleanEntitlementResponse.FromString(channel.unary_unary(
        f"/{SERVICE.full_name}/GetBooleanEntitlement")(
            pb.GetBooleanEntitlementRequest(customer_id="acme", feature_id="sso").SerializeToString(),
            timeout=10))
    assert reply.is_fallback is False or reply.has_access is False


@pytest.mark.parametrize("method", list(SERVICE.methods), ids=lambda m: m.name)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.data_too_large])
@given(data=st.data())
def test_random_messages_get_a_proper_answer(channel, method, data):
    request = data.draw(message(method.input_type))
    code = _call(channel, method, request.SerializeToString())
    assert code in ALLOWED, code
    assert code != grpc.StatusCode.INTERNAL


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=st.sampled_from(list(SERVICE.methods)), payload=st.binary(max_size=2048))
def test_garbage_bytes_never_break_the_server(channel, method, payload):
    code = _call(channel, method, payload)
    assert code in ALLOWED, code


def test_the_server_is_still_serving_after_the_fuzzing(channel):
    _still_serving(channel)
