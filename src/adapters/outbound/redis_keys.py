"""Every Redis key and channel name the adapter uses, built in one place.

reference: caching-and-redis.md §3.2. With ``P`` the prefix and ``K`` the entry key:

    K                       P:c_<C>            or  P:c_<C>:r_<R>
    K#timestamp             set timestamp
    K:metadata              {"accessDeniedReason": …}
    K:metadata#timestamp
    K:f_<featureId>         usage of a metered feature (and its #timestamp)
    K:credit_<currencyId>   usage of a credit wallet (and its #timestamp)
    lock                    P:refetchEntityEntitlementsAfterCacheMiss-<C>[:<R>]
    channel                 P:refetchEntityEntitlementsAfterCacheMiss:<C>[:<R>]
    outbox stream           P:outbox:<kind>          (ours; redis_outbox.py)
    outbox byte counter     P:outbox:<kind>:bytes

The outbox keys never start with ``c_`` after the prefix, so the persistent cache
service's invalidation (``P:c_*``) never deletes them.

**Escaping (our choice).** Ids are inserted verbatim unless they contain a character
that could make two different ids produce the same key: ``%`` (the escape character
itself), ``:`` (separates the customer, resource and sub-keys), ``#`` (introduces the
``#timestamp`` suffix), space, and the ASCII control characters (0x00-0x1F, 0x7F).
Each of those is percent-encoded as ``%XX`` (uppercase hex). Everything else, non-ASCII
included, is kept as is (Redis keys are binary-safe and UTF-8 is unambiguous), so
ordinary ids produce exactly the reference keys. Because an escaped id never contains
``:`` or ``#``, every key parses back into one (customer, resource, sub-key) only: the
customer ``a:r_b`` becomes ``P:c_a%3Ar_b`` and cannot meet customer ``a`` with resource
``b`` (``P:c_a:r_b``). The prefix is configuration shared with other processes and is
used verbatim.

The reference layout has no hash tags, so multi-key commands need a standalone Redis
(or a primary with replicas); a Cluster variant would change only this module.
"""
from __future__ import annotations

from dataclasses import dataclass

from domain.model.identifiers import CustomerKey

#: Characters percent-encoded in ids; see the module docstring.
_SPECIAL = frozenset("%:#") | frozenset(chr(code) for code in range(0x21)) | {"\x7f"}
_TIMESTAMP = "#timestamp"
_REFETCH = "refetchEntityEntitlementsAfterCacheMiss"


def escape_id(value: str) -> str:
    """``value`` with ``%``, ``:``, ``#``, space and control characters as ``%XX``."""
    if not any(char in _SPECIAL for char in value):
        return value
    return "".join(f"%{ord(char):02X}" if char in _SPECIAL else char for char in value)


def timestamp_key(key: str) -> str:
    """The ``#timestamp`` companion of a value key."""
    return key + _TIMESTAMP


@dataclass(frozen=True, slots=True)
class EntryKeys:
    """The keys of one (customer, resource) entry."""

    value: str
    timestamp: str
    metadata: str
    metadata_timestamp: str
    #: ``P:c_C#timestamp`` for a resource entry (§3.6 staleness check); ``None`` if global.
    global_timestamp: str | None

    def feature_usage(self, feature_id: str) -> str:
        return f"{self.value}:f_{escape_id(feature_id)}"

    def credit_usage(self, currency_id: str) -> str:
        return f"{self.value}:credit_{escape_id(currency_id)}"


class RedisKeys:
    """Key construction for one environment prefix (``REDIS_ENVIRONMENT_PREFIX``)."""

    def __init__(self, prefix: str) -> None:
        if not prefix:
            raise ValueError("the Redis environment prefix must not be empty")
        self.prefix = prefix

    def _entity(self, key: CustomerKey) -> str:
        """``C`` or ``C:R`` (escaped) as used by the lock and the channel."""
        customer = escape_id(key.customer_id)
        if key.resource_id is None:
            return customer
        return f"{customer}:{escape_id(key.resource_id)}"

    def entry_key(self, key: CustomerKey) -> str:
        """``K``: ``P:c_C`` or ``P:c_C:r_R``."""
        base = f"{self.prefix}:c_{escape_id(key.customer_id)}"
        if key.resource_id is None:
            return base
        return f"{base}:r_{escape_id(key.resource_id)}"

    def entry(self, key: CustomerKey) -> EntryKeys:
        value = self.entry_key(key)
        metadata = f"{value}:metadata"
        global_timestamp = (
            None if key.resource_id is None else timestamp_key(self.entry_key(key.global_key))
        )
        return EntryKeys(
            value=value,
            timestamp=timestamp_key(value),
            metadata=metadata,
            metadata_timestamp=timestamp_key(metadata),
            global_timestamp=global_timestamp,
        )

    def lock(self, key: CustomerKey) -> str:
        """The cross-process single-flight lock (§3.7); note the ``-``."""
        return f"{self.prefix}:{_REFETCH}-{self._entity(key)}"

    def outbox(self, kind: str) -> tuple[str, str]:
        """The outbox stream of ``kind`` (``events``, ``usage``, …: lower-case letters,
        digits, ``-`` and ``_``) and its byte counter key."""
        if not kind or not all(c.isascii() and (c.islower() or c.isdigit() or c in "-_") for c in kind):
            raise ValueError(f"invalid outbox kind {kind!r}")
        stream = f"{self.prefix}:outbox:{kind}"
        return stream, f"{stream}:bytes"

    def channel(self, key: CustomerKey) -> str:
        """The pub/sub channel of that single-flight (§3.7)."""
        return f"{self.prefix}:{_REFETCH}:{self._entity(key)}"
