"""Prepacked commands (redis_prepacked): the bytes are exactly redis-py's packing, a
prepacking client sends them as is and gets the plain command's reply, and a cache on a
client that cannot send them falls back to the plain command."""
from __future__ import annotations

import redis.asyncio as aioredis

from adapters.outbound.redis_prepacked import (
    Prepacked,
    PrepackingConnection,
    PrepackingSSLConnection,
    prepack,
    supports_prepacked,
)
from domain.model.identifiers import CustomerKey
from tests.fakes.builders import boolean, entitlement_set, metered

ACME = CustomerKey("acme")


def test_prepack_is_redis_pys_own_packing():
    args = ("MGET", "env:c_acme", "env:c_ümlaut:f_api-calls#timestamp", b"raw\r\nbytes", "")
    packed = prepack(*args)
    assert type(packed) is Prepacked
    assert packed == b"".join(aioredis.Connection().pack_command(*args))


def test_only_a_single_prepacked_argument_is_passed_through():
    connection = PrepackingConnection()
    command = prepack("GET", "k")
    assert connection.pack_command(command) == [command]
    assert connection.pack_command("GET", "k") == aioredis.Connection().pack_command("GET", "k")
    # plain bytes that happen to be RESP are an ordinary (bogus) command name
    assert connection.pack_command(bytes(command)) != [command]
    assert issubclass(PrepackingSSLConnection, aioredis.SSLConnection)


async def test_a_prepacked_mget_gets_the_plain_mget_reply(client):
    assert supports_prepacked(client)
    await client.set("a", b"1")
    await client.set("c", "ü")
    plain = await client.mget(["a", "b", "c"])
    assert await client.execute_command(prepack("MGET", "a", "b", "c")) == plain == [
        b"1", None, "ü".encode()]
    assert await client.get("a") == b"1"  # ordinary commands are untouched


async def test_a_cache_on_a_plain_client_reads_with_the_plain_command(make_cache, client):
    plain = make_cache(make_cache.client(connection_class=aioredis.Connection))
    assert not supports_prepacked(plain._client)
    writer = make_cache()
    sample = entitlement_set(boolean("sso"), metered("api-calls", 10, 3, start=10, end=20,
                                                     updated_at=900), key=ACME, timestamp=5)
    await writer.put(sample, None)
    reads = [(await plain.get(ACME)).entitlements for _ in range(3)]
    assert reads[0] == sample and reads[1] is reads[0] and reads[2] is reads[0]
