"""RedisStreamOutbox: the durable outbox as one Redis stream shared by every sidecar.

**Layout** (``P`` = ``REDIS_ENVIRONMENT_PREFIX``, ``kind`` = ``events``, ``usage``, …;
keys built in ``redis_keys``)::

    P:outbox:<kind>         stream; entry fields  at = epoch ms (decimal),
                                                  item = the codec's JSON object (UTF-8)
    P:outbox:<kind>:bytes   integer: stored bytes of the entries in the stream
    consumer group          "sidecars" on the stream; one consumer per outbox instance
                            (``<hostname>:<pid>:<random>``), plus "released"

Neither key has a TTL. The *stored size* of an entry is the byte length of its ``at``
plus its ``item`` value; capacity, ``bytes_used`` and ``peek(max_bytes=…)`` count it.

**Operations** (each one Lua script, so each is atomic on the server):

- ``append``: checks ``counter + size <= max_bytes`` and only then XADDs every item and
  increments the counter, so a call is queued whole or not at all, and the capacity is
  shared by every sidecar on the prefix (each checks against its own ``max_bytes``).
- ``peek``: (1) this instance's pending entries (XREADGROUP id 0: read before, not
  acknowledged); (2) entries another consumer has held for ``claim_idle_ms`` without
  acknowledging (XAUTOCLAIM: its sidecar died or hangs); (3) new entries (XREADGROUP
  ``>``). Entries move into this instance's pending list, but stay in the stream: peek
  never removes anything. The result is sorted by id (oldest first) and cut to
  ``max_events`` / ``max_bytes``; entries read but cut stay pending here and come first
  next time. Reading one's own pending entries resets their idle time, so a live
  sidecar retrying a batch keeps it.
- ``acknowledge``: XACK + XDEL, and the counter decreases by the entries' sizes.
  Unknown or already acknowledged ids change nothing.
- ``close``: this instance's pending entries are moved (XCLAIM … IDLE) to the consumer
  "released" as if idle for a year, so any other sidecar takes them over at once;
  then this consumer is deleted.

**Guarantees.** At least once, like the file outbox: an entry leaves the stream only
when acknowledged. Two live sidecars never read the same new entry (the group hands
each entry to one consumer); an entry is sent twice only if its holder died, was
stopped for longer than ``claim_idle_ms``, or a reply was lost (see below), and the
upstream deduplicates on the idempotency key. ``claim_idle_ms`` should exceed the
longest gap between two peeks of a live sidecar that holds a batch: one send
(``API_TIMEOUT_MS``) plus one backoff (``OUTBOX_RETRY_MAX_MS``). Across sidecars the
order is only roughly oldest first (each sends what it holds first).

**Durability is Redis's**: ``append`` returns once Redis has executed the script, so
the items survive a sidecar crash, and survive a Redis restart only as its persistence
allows: with ``appendonly yes`` and ``appendfsync always`` nothing acknowledged to the
caller is lost; ``everysec`` may lose the last second; no AOF (RDB only, or none) loses
everything since the last snapshot. Replication is asynchronous (no WAIT), so a
failover may lose the last writes. Redis must not evict these keys: use
``maxmemory-policy noeviction`` or a ``volatile-*`` policy (the cache's keys have TTLs,
the outbox's do not). An ``OOM`` refusal of an append is answered ``OutboxFullError``.

**Failures.** Every command is bounded by ``command_timeout_s`` and guarded like the
cache (``RedisGuard``: counted, Redis skipped for ``skip_s`` after a connection error or
timeout); any Redis failure raises ``OutboxUnavailableError`` (inbound: UNAVAILABLE).
After a failed append the items may have been queued anyway (the reply was lost); the
caller's retry then queues a second copy, which the upstream deduplicates. Nothing is
ever dropped silently: an entry whose ``item`` does not decode is logged at error
level and acknowledged, like a damaged record of the file outbox.

**Ids.** ``OutboxItemId`` is ``ms << 20 | seq`` of the stream id ``ms-seq`` (reversible).
The append script never gives a sequence number of 2^20 or more: it moves to the next
millisecond instead, so every entry it writes has a mappable id. ``ms`` below 2^43
(year 2248) keeps ids under 2^63.

**Gauges.** ``depth``, ``bytes_used`` and ``oldest_age_s`` must be synchronous, so they
answer from values every script returns (stream length, counter, ``at`` of the first
entry): they describe the *shared* stream (every sidecar's items, not only this one's)
as of this instance's last append, peek or acknowledge. The sender peeks at least once
per idle interval (1 s), which keeps them at most about a second old while running.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import uuid
from typing import Any, Callable, Sequence

import redis.asyncio as aioredis
from redis.exceptions import OutOfMemoryError, ResponseError

from adapters.outbound.outbox_items import EVENT_CODEC, Item, ItemCodec
from adapters.outbound.redis_guard import SKIP_AFTER_FAILURE_S, RedisGuard
from adapters.outbound.redis_keys import RedisKeys
from ports.clock import Clock
from ports.errors import CacheUnavailableError
from ports.event_outbox import Outbox, OutboxFullError, OutboxItemId, OutboxUnavailableError

log = logging.getLogger("sidecar.outbox")

#: Bits of the sequence part in an ``OutboxItemId``.
SEQ_BITS = 20
_SEQ_MASK = (1 << SEQ_BITS) - 1
GROUP = "sidecars"
RELEASED_CONSUMER = "released"
#: Most entries one ``peek`` reads (XAUTOCLAIM allocates per COUNT; our choice).
PEEK_LIMIT = 10_000
#: Default ``claim_idle_ms``: above API_TIMEOUT_MS + OUTBOX_RETRY_MAX_MS (30 s + 30 s).
DEFAULT_CLAIM_IDLE_MS = 120_000
#: A consumer with nothing pending, idle this long, is deleted (crashed sidecars').
PRUNE_AFTER_MS = 3_600_000
_PRUNE_EVERY_S = 60.0
#: Idle time given to released entries (a year, ms): claimable by anyone at once.
_RELEASED_IDLE_MS = 365 * 24 * 3_600_000

_FUNCTIONS = """
local LIMIT = 1048576
local function entry_size(fields)
  local size = 0
  for i = 2, #fields, 2 do size = size + string.len(fields[i]) end
  return size
end
-- {length, counter, at of the first entry (epoch ms) or -1}; an empty stream resets the counter.
local function stats(stream, counter)
  local depth = redis.call('XLEN', stream)
  local used = tonumber(redis.call('GET', counter) or '0') or 0
  local oldest = -1
  if depth == 0 then
    if used ~= 0 then redis.call('DEL', counter) end
    used = 0
  else
    local first = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
    local fields = first[2]
    for i = 1, #fields, 2 do
      if fields[i] == 'at' then oldest = tonumber(fields[i + 1]) or -1 end
    end
    if oldest == -1 then oldest = tonumber(string.match(first[1], '^(%d+)')) end
  end
  return {depth, used, oldest}
end
"""

#: KEYS: stream, counter. ARGV: capacity, at, item... Returns {ok 0/1, depth, used, oldest, size}.
APPEND = _FUNCTIONS + """
local capacity = tonumber(ARGV[1])
local at = ARGV[2]
local size = 0
for i = 3, #ARGV do size = size + string.len(at) + string.len(ARGV[i]) end
local before = stats(KEYS[1], KEYS[2])
if before[2] + size > capacity then
  return {0, before[1], before[2], before[3], size}
end
local ms, seq
for i = 3, #ARGV do
  if ms == nil then
    local id = redis.call('XADD', KEYS[1], '*', 'at', at, 'item', ARGV[i])
    local m, s = string.match(id, '^(%d+)-(%d+)$')
    ms, seq = m, tonumber(s)
    if seq >= LIMIT then
      redis.call('XDEL', KEYS[1], id)
      ms, seq = string.format('%d', tonumber(ms) + 1), 0
      redis.call('XADD', KEYS[1], ms .. '-0', 'at', at, 'item', ARGV[i])
    end
  else
    seq = seq + 1
    if seq >= LIMIT then ms, seq = string.format('%d', tonumber(ms) + 1), 0 end
    redis.call('XADD', KEYS[1], ms .. '-' .. string.format('%d', seq), 'at', at, 'item', ARGV[i])
  end
end
redis.call('INCRBY', KEYS[2], size)
local after = stats(KEYS[1], KEYS[2])
return {1, after[1], after[2], after[3], size}
"""

#: KEYS: stream, counter. ARGV: group, consumer, count, min idle ms, claim cursor,
#: prune-after ms (0: no pruning). Returns {cursor, entries, depth, used, oldest}.
PEEK = _FUNCTIONS + """
local stream, group, consumer = KEYS[1], ARGV[1], ARGV[2]
local count = tonumber(ARGV[3])
redis.pcall('XGROUP', 'CREATE', stream, group, '0', 'MKSTREAM')
local found, gone = {}, {}
local function take(entries)
  for _, entry in ipairs(entries) do
    if entry[2] then found[#found + 1] = entry else gone[#gone + 1] = entry[1] end
  end
end
local own = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', count, 'STREAMS', stream, '0')
if own and own[1] then take(own[1][2]) end
local cursor = ARGV[5]
if #found < count then
  local claimed = redis.call('XAUTOCLAIM', stream, group, consumer, ARGV[4], cursor,
                             'COUNT', count - #found)
  cursor = claimed[1]
  take(claimed[2])
end
if #found < count then
  local new = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', count - #found,
                         'STREAMS', stream, '>')
  if new and new[1] then take(new[1][2]) end
end
for _, id in ipairs(gone) do redis.call('XACK', stream, group, id) end
local prune_after = tonumber(ARGV[6])
if prune_after > 0 then
  for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', stream, group)) do
    local info = {}
    for i = 1, #c, 2 do info[c[i]] = c[i + 1] end
    if info['pending'] == 0 and info['idle'] > prune_after and info['name'] ~= consumer then
      redis.call('XGROUP', 'DELCONSUMER', stream, group, info['name'])
    end
  end
end
local s = stats(stream, KEYS[2])
return {cursor, found, s[1], s[2], s[3]}
"""

#: KEYS: stream, counter. ARGV: group, ids... Returns {depth, used, oldest}.
ACKNOWLEDGE = _FUNCTIONS + """
local freed = 0
for i = 2, #ARGV do
  local entry = redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i])[1]
  redis.pcall('XACK', KEYS[1], ARGV[1], ARGV[i])
  if entry then
    freed = freed + entry_size(entry[2])
    redis.call('XDEL', KEYS[1], ARGV[i])
  end
end
if freed > 0 and redis.call('DECRBY', KEYS[2], freed) < 0 then
  redis.call('SET', KEYS[2], 0)
end
return stats(KEYS[1], KEYS[2])
"""

#: KEYS: stream. ARGV: group, consumer, released consumer, idle ms. Returns entries released.
RELEASE = """
local released = 0
for _ = 1, 1000 do
  local pending = redis.pcall('XPENDING', KEYS[1], ARGV[1], '-', '+', 1000, ARGV[2])
  if type(pending) ~= 'table' or pending.err or #pending == 0 then break end
  local args = {'XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0}
  for _, p in ipairs(pending) do args[#args + 1] = p[1] end
  args[#args + 1] = 'IDLE'
  args[#args + 1] = ARGV[4]
  args[#args + 1] = 'JUSTID'
  redis.call(unpack(args))
  released = released + #pending
end
redis.pcall('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return released
"""


def to_item_id(stream_id: bytes | str) -> OutboxItemId:
    """``ms-seq`` → ``ms << 20 | seq``. Raises ``ValueError`` if ``seq`` needs more bits."""
    text = stream_id.decode() if isinstance(stream_id, bytes) else stream_id
    ms, _, seq = text.partition("-")
    number = int(seq)
    if number > _SEQ_MASK:
        raise ValueError(f"stream id {text} has a sequence number over 2^{SEQ_BITS}")
    return int(ms) << SEQ_BITS | number


def to_stream_id(item_id: OutboxItemId) -> str | None:
    """The inverse of ``to_item_id``; ``None`` for a value no entry can have."""
    if not isinstance(item_id, int) or isinstance(item_id, bool) or item_id < 0:
        return None
    return f"{item_id >> SEQ_BITS}-{item_id & _SEQ_MASK}"


def default_consumer_name() -> str:
    """``<hostname>:<pid>:<8 hex>``: unique per instance, readable in XINFO CONSUMERS."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _noop() -> None:
    return None


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


class RedisStreamOutbox(Outbox[Item]):
    """The ``Outbox`` port over a Redis stream (design and guarantees: module docstring).

    Build with ``await RedisStreamOutbox.open(client, prefix=…, max_bytes=…, clock=…)``.
    ``client``: a ``redis.asyncio.Redis`` without ``decode_responses`` (not closed here).
    ``prefix``: ``REDIS_ENVIRONMENT_PREFIX``. ``kind``: the stream's name under it
    (``events``). ``max_bytes``: capacity, bytes of stored size, checked against the
    shared counter. ``clock``: gives ``at`` (``now_ms``) and the guard's skip window.
    ``codec``: items ↔ JSON objects (default: events). ``claim_idle_ms``: how long
    another consumer's unacknowledged entries must be idle before this one takes them.
    ``on_error``: called once per Redis failure (``sidecar_redis_client_errors_total``).
    ``command_timeout_s``: bound of each script, seconds. ``consumer``: this instance's
    consumer name (default ``default_consumer_name()``).

    Every method that talks to Redis raises ``OutboxUnavailableError`` when it cannot;
    ``append`` also raises ``OutboxFullError`` (nothing queued).
    """

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str,
        max_bytes: int,
        clock: Clock,
        kind: str = "events",
        codec: ItemCodec[Item] = EVENT_CODEC,
        claim_idle_ms: int = DEFAULT_CLAIM_IDLE_MS,
        on_error: Callable[[], None] | None = None,
        command_timeout_s: float = 1.0,
        skip_s: float = SKIP_AFTER_FAILURE_S,
        consumer: str | None = None,
    ) -> None:
        if max_bytes <= 0 or claim_idle_ms <= 0 or command_timeout_s <= 0:
            raise ValueError("max_bytes, claim_idle_ms and command_timeout_s must be positive")
        self._client = client
        self._stream, self._counter = RedisKeys(prefix).outbox(kind)
        self._max_bytes = max_bytes
        self._clock = clock
        self._codec = codec
        self._claim_idle_ms = claim_idle_ms
        self.consumer = consumer or default_consumer_name()
        self._guard = RedisGuard(
            clock, command_timeout_s, on_error or _noop, skip_s,
            on_unavailable=lambda: client.connection_pool.disconnect(inuse_connections=False),
        )
        self._append = client.register_script(APPEND)
        self._peek = client.register_script(PEEK)
        self._ack = client.register_script(ACKNOWLEDGE)
        self._release = client.register_script(RELEASE)
        self._cursor = "0-0"
        self._next_prune = float("-inf")
        self._depth = 0
        self._used = 0
        self._oldest_ms: int | None = None
        self._appending = 0
        self._appends_done = asyncio.Event()
        self._appends_done.set()
        self._closed = False

    @classmethod
    async def open(cls, client: aioredis.Redis, **options: Any) -> RedisStreamOutbox[Item]:
        """Build (options as for the constructor) and read the stream's figures. Redis
        being unavailable is logged, not raised: appends fail until it is back."""
        outbox = cls(client, **options)
        try:
            await outbox.refresh()
        except OutboxUnavailableError as error:
            log.warning("event outbox: Redis unavailable at start; appends fail until it is back",
                        extra={"stream": outbox._stream, "error": str(error)})
        log.info("event outbox opened", extra={
            "stream": outbox._stream, "consumer": outbox.consumer, "depth": outbox.depth(),
            "bytes_used": outbox.bytes_used(), "capacity_bytes": outbox._max_bytes})
        return outbox

    # --- Redis calls ----------------------------------------------------------------

    async def _run(self, what: str, command: Callable[[], Any]) -> Any:
        try:
            return await self._guard.run(f"outbox {what}", command)
        except CacheUnavailableError as error:
            raise OutboxUnavailableError(str(error)) from error.__cause__

    def _remember(self, depth: int, used: int, oldest_ms: int) -> None:
        self._depth, self._used = int(depth), int(used)
        self._oldest_ms = int(oldest_ms) if self._depth and int(oldest_ms) >= 0 else None

    # --- the port -------------------------------------------------------------------

    async def append(self, items: Sequence[Item]) -> None:
        if self._closed:
            raise RuntimeError("the outbox is closed")
        if not items:
            return
        at = str(self._clock.now_ms()).encode()
        encode = self._codec.encode
        payloads = [json.dumps(encode(item), ensure_ascii=False, separators=(",", ":")).encode()
                    for item in items]
        size = sum(len(at) + len(payload) for payload in payloads)
        if size > self._max_bytes:
            raise OutboxFullError(self._max_bytes, self.bytes_used(), size)
        self._appending += 1
        self._appends_done.clear()
        try:
            # Shielded: a cancelled caller does not tear down a script Redis may be running.
            reply = await asyncio.shield(self._run("append", lambda: self._append(
                keys=[self._stream, self._counter], args=[self._max_bytes, at, *payloads])))
        except OutboxUnavailableError as error:
            cause = error.__cause__
            if isinstance(cause, OutOfMemoryError) or (
                    isinstance(cause, ResponseError) and str(cause).startswith("OOM")):
                raise OutboxFullError(self._max_bytes, self.bytes_used(), size) from error
            raise
        finally:
            self._appending -= 1
            if not self._appending:
                self._appends_done.set()
        ok, depth, used, oldest, stored = reply
        self._remember(depth, used, oldest)
        if not ok:
            raise OutboxFullError(self._max_bytes, int(used), int(stored))

    async def peek(self, max_events: int, *, max_bytes: int | None = None
                   ) -> list[tuple[OutboxItemId, Item]]:
        if max_events < 1:
            return []
        count = min(max_events, PEEK_LIMIT)
        prune = 0
        if self._clock.monotonic() >= self._next_prune:
            self._next_prune = self._clock.monotonic() + _PRUNE_EVERY_S
            prune = max(PRUNE_AFTER_MS, 10 * self._claim_idle_ms)
        cursor, entries, depth, used, oldest = await self._run("peek", lambda: self._peek(
            keys=[self._stream, self._counter],
            args=[GROUP, self.consumer, count, self._claim_idle_ms, self._cursor, prune]))
        self._cursor = _text(cursor)
        self._remember(depth, used, oldest)
        decoded: dict[int, tuple[Item, int]] = {}
        damaged: list[str] = []
        for raw_id, fields in entries:
            item, size = self._decode(fields)
            try:
                item_id = to_item_id(raw_id)
            except ValueError:  # not written by append (its ids always map)
                item = None
            if item is None:
                damaged.append(_text(raw_id))
            else:
                decoded[item_id] = (item, size)
        if damaged:
            log.error("damaged entries in the outbox were dropped",
                      extra={"stream_ids": damaged, "stream": self._stream})
            await self._acknowledge(damaged)
        found: list[tuple[OutboxItemId, Item]] = []
        total = 0
        for item_id in sorted(decoded):
            item, size = decoded[item_id]
            if len(found) >= max_events or (found and max_bytes is not None and total + size > max_bytes):
                break
            found.append((item_id, item))
            total += size
        return found

    def _decode(self, fields: list[bytes]) -> tuple[Item | None, int]:
        """The item of an entry's flat field list and its stored size; ``None`` if damaged."""
        values = dict(zip(fields[::2], fields[1::2]))
        size = sum(len(value) for value in fields[1::2])
        try:
            body = json.loads(values[b"item"])
        except (KeyError, ValueError):
            return None, size
        if not isinstance(body, dict):
            return None, size
        return self._codec.decode(body), size

    async def acknowledge(self, ids: Sequence[OutboxItemId]) -> None:
        stream_ids = sorted({sid for sid in map(to_stream_id, ids) if sid is not None})
        if stream_ids:
            await self._acknowledge(stream_ids)

    async def refresh(self) -> None:
        """Re-read ``depth``/``bytes_used``/``oldest_age_s`` from Redis (one round trip)."""
        await self._acknowledge([])

    async def _acknowledge(self, stream_ids: list[str]) -> None:
        """Acknowledge stream ids (``ms-seq``); with none, only refresh the figures."""
        depth, used, oldest = await self._run("acknowledge", lambda: self._ack(
            keys=[self._stream, self._counter], args=[GROUP, *stream_ids]))
        self._remember(depth, used, oldest)

    def depth(self) -> int:
        return self._depth

    def bytes_used(self) -> int:
        return self._used

    def oldest_age_s(self, now_ms: int) -> float | None:
        if self._oldest_ms is None:
            return None
        return max(0.0, (now_ms - self._oldest_ms) / 1000)

    async def close(self) -> None:
        """Wait for appends under way, then hand this instance's unacknowledged entries
        to the other sidecars (see the module docstring). Failures are logged: what
        cannot be released is reclaimed after ``claim_idle_ms``. The client stays open."""
        if self._closed:
            return
        self._closed = True
        await self._appends_done.wait()
        try:
            released = await self._run("release", lambda: self._release(
                keys=[self._stream], args=[GROUP, self.consumer, RELEASED_CONSUMER, _RELEASED_IDLE_MS]))
        except OutboxUnavailableError as error:
            log.warning("event outbox: could not release pending entries; others reclaim them "
                        "after the idle time", extra={"error": str(error), "consumer": self.consumer})
            released = None
        await self._guard.aclose()
        log.info("event outbox closed", extra={"stream": self._stream, "consumer": self.consumer,
                                               "released": released, "depth": self._depth})
