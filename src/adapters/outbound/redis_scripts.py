"""Lua scripts run with EVALSHA (``register_script`` reloads them after NOSCRIPT).

reference: caching-and-redis.md §1 (ordering rule), §3.5 (one script per write batch,
our choice instead of the reference's per-customer lock), §3.9 (usage writes only for
an existing entry), §3.7 (compare-and-delete lock release).

Write scripts take ``KEYS`` as (value key, ``#timestamp`` key) pairs and ``ARGV[1]`` as
the TTL in seconds (negative: no expiry), followed by (value, timestamp) per pair. Each
pair is written, both keys together, only if its stored timestamp is missing or not
decimal digits, or the incoming timestamp is 0, or stored <= incoming.
"""
from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

_PAIR_FUNCTIONS = """
local function newer_or_equal(stored, incoming)
  if not stored or not string.match(stored, '^%d+$') then
    return true
  end
  local t = tonumber(incoming)
  return t == 0 or tonumber(stored) <= t
end

local function set_key(key, value)
  if tonumber(ARGV[1]) >= 0 then
    redis.call('SET', key, value, 'EX', ARGV[1])
  else
    redis.call('SET', key, value)
  end
end

-- Writes pairs KEYS[first..] / ARGV[2..]; returns one 1 (written) or 0 (kept) per pair.
local function write_pairs(first)
  local written = {}
  local pair = 0
  for i = first, #KEYS, 2 do
    local value = ARGV[2 + 2 * pair]
    local stamp = ARGV[3 + 2 * pair]
    if newer_or_equal(redis.call('GET', KEYS[i + 1]), stamp) then
      set_key(KEYS[i], value)
      set_key(KEYS[i + 1], stamp)
      written[#written + 1] = 1
    else
      written[#written + 1] = 0
    end
    pair = pair + 1
  end
  return written
end
"""

#: KEYS: pairs; ARGV: ttl, then value/timestamp per pair. Returns a 0/1 flag per pair.
WRITE_BATCH = _PAIR_FUNCTIONS + """
return write_pairs(1)
"""

#: KEYS[1]: the entry's ``K#timestamp`` (must exist), then one pair; ARGV as above.
#: Returns -1 if the entry is absent, else the pair's 0/1 flag.
WRITE_USAGE_IF_PRESENT = _PAIR_FUNCTIONS + """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
return write_pairs(2)[1]
"""

#: KEYS[1]: the lock; ARGV[1]: our token. Deletes the lock only if we still own it.
RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(frozen=True, slots=True)
class RedisScripts:
    """The scripts registered on one client (EVALSHA, loaded on NOSCRIPT)."""

    write_batch: AsyncScript
    write_usage_if_present: AsyncScript
    release_lock: AsyncScript

    @classmethod
    def register(cls, client: aioredis.Redis) -> RedisScripts:
        return cls(
            write_batch=client.register_script(WRITE_BATCH),
            write_usage_if_present=client.register_script(WRITE_USAGE_IF_PRESENT),
            release_lock=client.register_script(RELEASE_LOCK),
        )
