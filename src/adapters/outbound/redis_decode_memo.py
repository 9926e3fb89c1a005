"""What the Redis cache decoded last, per (customer, resource), to skip decoding again.

Every Redis read still reads Redis (the shared Redis is the truth; nothing here decides
freshness). What is remembered is how the bytes read last time decoded: if the value
key holds the same bytes, its decoded entitlements are reused, and if every other key
the read fetches (metadata, timestamps, usage values) holds the same bytes too, the very
same read of a hit, with the very same ``EntitlementSet`` object, is returned (sets are
immutable) without decoding anything. It also remembers the usage key names of the
last decode, so the next read can fetch them in the same ``MGET`` as the value (one round
trip instead of two; a changed value falls back to a second ``MGET``).

Bounded by ``max_bytes`` of remembered value bytes (oldest used first out); what one
entry costs in memory is about its value bytes again for the decoded objects (the
cache's ``OVERHEAD_FACTOR`` 1.62 of the JSON, see ``entry_size``) plus the set.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from domain.model.entitlement import CreditEntitlement, FeatureEntitlement
from domain.model.identifiers import CustomerKey

#: Value bytes remembered by default (our choice: ~800 customers of 10 KiB).
DEFAULT_MAX_BYTES = 8 * 1024 * 1024


@dataclass(slots=True)
class Decoded:
    """One decode of a value key: ``usage_names`` are the usage keys and their
    ``#timestamp`` keys, in pairs, for ``trackable`` (usage key → entitlement).
    ``keys`` are the entry's ``EntryKeys``; ``read_names`` is every key the next read fetches in one ``MGET`` (the entry's own
    keys, then ``usage_names``) and ``read_command`` that ``MGET`` packed once
    (``redis_prepacked``), when the client can send it."""

    raw: bytes
    features: tuple[FeatureEntitlement, ...]
    credits: tuple[CreditEntitlement, ...]
    trackable: dict[str, FeatureEntitlement | CreditEntitlement]
    usage_names: list[str]
    keys: Any = None
    read_names: list[str] = field(default_factory=list)
    read_command: Any = None
    #: The cache's read of the last hit built from these bytes (``redis_cache.RedisRead``).
    hit: Any = None
    #: What a one-``MGET`` read of ``read_names`` returns while every key holds the bytes
    #: ``hit`` was built from (``None`` until a hit): the same values again are the same
    #: hit, the very same set object included.
    hit_values: list[Any] | None = None


class DecodeMemo:
    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._max = max_bytes
        self._bytes = 0
        self._entries: OrderedDict[CustomerKey, Decoded] = OrderedDict()

    def get(self, key: CustomerKey) -> Decoded | None:
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def put(self, key: CustomerKey, decoded: Decoded) -> None:
        self.forget(key)
        if len(decoded.raw) > self._max:
            return
        self._entries[key] = decoded
        self._bytes += len(decoded.raw)
        while self._bytes > self._max:
            _, old = self._entries.popitem(last=False)
            self._bytes -= len(old.raw)

    def forget(self, key: CustomerKey) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= len(old.raw)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)
