"""Commands packed into RESP once and sent as is: the Redis cache's repeated reads.

A Redis cache hit sends the same ``MGET`` of ~16 keys for a customer again and again
(the reference key layout: value, metadata, timestamps and a usage pair per metered
entitlement). redis-py packs every argument of every command in Python, ~16 µs per such
``MGET`` on the event-loop thread — more than our own read logic — so the cache packs it
once per decoded value (``redis_decode_memo``) and hands the bytes to redis-py.

``PrepackingConnection`` / ``PrepackingSSLConnection`` are redis-py's connection
classes with one change: a command given as a single ``Prepacked`` argument is sent as
those bytes. Everything else — pooling, retries, timeouts, disconnect on a cancelled
read, reply parsing (hiredis) — is redis-py's unchanged, so replies are those of the
unpacked command (``MGET``'s has no response callback). ``bootstrap.resources``
builds the sidecar's client with them; ``supports_prepacked`` tells a cache whether a
client it was given can send ``Prepacked`` (else it sends the plain command).
"""
from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis


class Prepacked(bytes):
    """A whole command in RESP (an array of bulk strings), ready for the socket."""


def prepack(*args: str | bytes) -> Prepacked:
    """``args`` (command name first; ``str`` as UTF-8, redis-py's default encoding) as
    one RESP array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else bytes(arg)
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return Prepacked(b"".join(parts))


class _Prepacking:
    def pack_command(self, *args: Any) -> list[bytes]:
        if len(args) == 1 and type(args[0]) is Prepacked:
            return [args[0]]
        return super().pack_command(*args)  # type: ignore[misc]


class PrepackingConnection(_Prepacking, aioredis.Connection):
    """``redis.asyncio.Connection`` that sends ``Prepacked`` commands as is."""


class PrepackingSSLConnection(_Prepacking, aioredis.SSLConnection):
    """``redis.asyncio.SSLConnection`` that sends ``Prepacked`` commands as is."""


def supports_prepacked(client: aioredis.Redis) -> bool:
    """Whether every connection of ``client``'s pool sends ``Prepacked`` as is."""
    pool = getattr(client, "connection_pool", None)
    connection_class = getattr(pool, "connection_class", None)
    return isinstance(connection_class, type) and issubclass(connection_class, _Prepacking)
