"""The entitlement cache in a shared Redis (Redis mode).

reference: caching-and-redis.md §3 (keys §3.2, values §3.3, TTL §3.4, writes §3.5,
reads §3.6, single-flight §3.7, unavailability §3.8, usage §3.9, purge §3.10).

Redis is always trusted (§3.1): every entry read is returned with ``trusted=True``, the
fetch token is ignored, and ``set_live`` / ``drop_trust`` do nothing here (keeping the
shared Redis current is the persistent cache service's job). Expiry (decision-rules.md
§6) is checked by the caller.

**Resource vs global staleness (§3.6 step 3).** A resource entry whose global
``P:c_C#timestamp`` is missing or newer is reported as a miss (``MissReason``), so the
resource set is refetched and rewritten. The global set is *not* refetched alongside it
here: it is refetched by its own next read if it is missing. ``read()`` exposes the
reason so a loader can refetch both in parallel, as the reference does.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any, Awaitable, Callable, Hashable, Sequence, TypeVar

import redis.asyncio as aioredis

from adapters.outbound.redis_codec import (
    CodecError,
    UnknownFormatError,
    decode_entitlements,
    decode_metadata,
    decode_timestamp,
    decode_usage,
    encode_entitlements,
    encode_metadata,
    encode_timestamp,
    encode_usage,
    is_usage_trackable,
)
from adapters.outbound.redis_decode_memo import Decoded, DecodeMemo
from adapters.outbound.redis_guard import SKIP_AFTER_FAILURE_S, RedisGuard
from adapters.outbound.redis_keys import EntryKeys, RedisKeys, timestamp_key
from adapters.outbound.redis_prepacked import prepack, supports_prepacked
from adapters.outbound.redis_scripts import RedisScripts
from adapters.outbound.redis_single_flight import RedisSingleFlight
from domain.model.entitlement import CreditEntitlement, EntitlementSet, FeatureEntitlement, Usage
from domain.model.identifiers import CustomerKey
from domain.model.reports import UsageTarget
from domain.services.single_flight import SingleFlight
from ports.clock import Clock
from ports.entitlement_cache import CachedEntry, EntitlementCache

log = logging.getLogger("sidecar.cache.redis")
T = TypeVar("T")

class MissReason(Enum):
    ABSENT = "absent"
    NO_TIMESTAMP = "no timestamp"
    UNREADABLE = "unreadable value"
    UNKNOWN_FORMAT = "unknown format version"
    GLOBAL_MISSING = "global entry missing"
    GLOBAL_NEWER = "global entry newer"
    TORN_USAGE = "usage pair missing or unreadable"


@dataclass(frozen=True, slots=True)
class RedisRead:
    """A read: the set on a hit, else ``None`` and why (§3.6). ``entry`` is the hit as
    the port's ``CachedEntry`` (made once per set, with the read: see ``_hit``)."""

    entitlements: EntitlementSet | None
    miss: MissReason | None = None
    entry: CachedEntry | None = None


def _hit(entitlements: EntitlementSet) -> RedisRead:
    """The read of a hit. Kept with the decode (``Decoded.hit``), so an unchanged entry
    is answered with the same objects, without building two per call."""
    return RedisRead(entitlements, entry=CachedEntry(entitlements, trusted=True))


Trackable = FeatureEntitlement | CreditEntitlement


def _usage_key(keys: EntryKeys, entitlement: Trackable) -> str:
    if isinstance(entitlement, CreditEntitlement):
        return keys.credit_usage(entitlement.currency.currency_id)
    return keys.feature_usage(entitlement.feature.id)


def _trackable(
    keys: EntryKeys, features: Sequence[FeatureEntitlement], credits: Sequence[CreditEntitlement]
) -> dict[str, Trackable]:
    """Usage key -> the first usage-trackable entitlement using it, in set order."""
    found: dict[str, Trackable] = {}
    for entitlement in (*features, *credits):
        if is_usage_trackable(entitlement):
            found.setdefault(_usage_key(keys, entitlement), entitlement)
    return found


def _entry_names(keys: EntryKeys) -> list[str]:
    """The keys every read fetches first (§3.6): value, metadata, set timestamp, and the
    global set's timestamp for a resource entry."""
    names = [keys.value, keys.metadata, keys.timestamp]
    if keys.global_timestamp is not None:
        names.append(keys.global_timestamp)
    return names


def _bytes(raw: bytes | str) -> bytes:
    return raw.encode() if isinstance(raw, str) else raw


def _as_hit_values(decoded: Decoded, entry_values: Sequence[Any],
                   usage_values: Sequence[Any]) -> list[Any]:
    """What a one-``MGET`` read of ``decoded.read_names`` returns when every key holds the
    bytes a hit was built from: the entry's own values, then the usage values (read in
    that same ``MGET`` or in a second one), the value key's bytes held once as
    ``decoded.raw``."""
    return [decoded.raw, *entry_values[1:], *usage_values]


def _noop() -> None:
    pass


class RedisEntitlementCache(EntitlementCache):
    """``prefix``: ``REDIS_ENVIRONMENT_PREFIX``. ``ttl_s``: seconds, negative = no expiry,
    0 rejected. ``on_error``: called once per Redis client error
    (``sidecar_redis_client_errors_total``). ``command_timeout_s``: bound of each Redis
    command, seconds (§3.8); the client should also carry it as its socket timeout.
    ``lock_budget_s``: the shared fetch budget, seconds (``ENTITLEMENTS_TIMEOUT_MS`` /
    1000). ``skip_s``: how long Redis is skipped after a failure.

    Every Redis-touching method raises ``CacheUnavailableError`` when Redis cannot be
    used (failure, timeout, or inside the skip window). ``aclose()`` before closing the
    client: it stops the single-flight reader.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        ttl_s: int,
        clock: Clock,
        on_error: Callable[[], None] | None = None,
        *,
        command_timeout_s: float = 1.0,
        lock_budget_s: float = 10.0,
        skip_s: float = SKIP_AFTER_FAILURE_S,
    ) -> None:
        if ttl_s == 0:
            raise ValueError("ttl_s must not be 0 (negative means no expiry)")
        if command_timeout_s <= 0:
            raise ValueError("command_timeout_s must be positive")
        self._client = client
        self._keys = RedisKeys(prefix)
        self._ttl = str(int(ttl_s))
        self._scripts = RedisScripts.register(client)
        self._guard = RedisGuard(
            clock, command_timeout_s, on_error or _noop, skip_s,
            on_unavailable=lambda: client.connection_pool.disconnect(inuse_connections=False),
        )
        self._local: SingleFlight[EntitlementSet] = SingleFlight()
        self._decoded = DecodeMemo()
        self._prepacked = supports_prepacked(client)
        self._shared = RedisSingleFlight(
            client, self._keys, self._scripts, self._guard, clock, lock_budget_s
        )

    # --- trust: Redis is always trusted ---
    def fetch_token(self) -> Hashable:
        """Unused: every Redis entry is trusted, so ``put`` ignores the token."""
        return None

    def set_live(self, live: bool) -> None:
        pass

    async def drop_trust(self) -> None:
        pass

    # --- reads ---
    async def get(self, key: CustomerKey) -> CachedEntry | None:
        return (await self.read(key)).entry

    async def read(self, key: CustomerKey) -> RedisRead:
        """The read algorithm of §3.6, in one MGET when the value is unchanged since the
        last read of ``key`` (``redis_decode_memo``), else two."""
        known = self._decoded.get(key)
        if known is None:
            keys = self._keys.entry(key)
            names = _entry_names(keys)
            values = await self._guard.run("read", self._client.mget, names)
        else:
            keys = known.keys
            command = known.read_command
            if command is not None:
                values = await self._guard.run("read", self._client.execute_command, command)
            else:
                values = await self._guard.run("read", self._client.mget, known.read_names)
            if values == known.hit_values:
                # Every key holds the very bytes of the read that gave ``known.hit``, so
                # every check below would decide as it did then (none depends on the
                # time): the same hit, without decoding the timestamps again.
                return known.hit
        main = 3 if keys.global_timestamp is None else 4
        raw, raw_metadata, stamp = values[0], values[1], decode_timestamp(values[2])
        if raw is None:
            return RedisRead(None, MissReason.ABSENT)
        if stamp is None:
            return RedisRead(None, MissReason.NO_TIMESTAMP)
        if keys.global_timestamp is not None:
            global_stamp = decode_timestamp(values[3])
            if global_stamp is None:
                return RedisRead(None, MissReason.GLOBAL_MISSING)
            if global_stamp > stamp:
                return RedisRead(None, MissReason.GLOBAL_NEWER)
        raw = _bytes(raw)
        decoded = known if known is not None and known.raw == raw else None
        if decoded is None:
            where = {"customer_id": key.customer_id, "resource_id": key.resource_id}
            try:
                features, credits = decode_entitlements(raw)
            except UnknownFormatError as error:
                log.warning("cached entitlements in an unknown format; treated as a miss",
                            extra={**where, "error": str(error)})
                return RedisRead(None, MissReason.UNKNOWN_FORMAT)
            except CodecError as error:
                log.warning("unreadable cached entitlements; treated as a miss",
                            extra={**where, "error": str(error)})
                return RedisRead(None, MissReason.UNREADABLE)
            trackable = _trackable(keys, features, credits)
            usage_names = [name for k in trackable for name in (k, timestamp_key(k))]
            read_names = _entry_names(keys) + usage_names
            decoded = Decoded(raw, features, credits, trackable, usage_names, keys=keys,
                              read_names=read_names,
                              read_command=prepack("MGET", *read_names) if self._prepacked else None)
            self._decoded.put(key, decoded)
        if decoded is known:
            usage_values = values[main:]
        elif decoded.usage_names:
            usage_values = await self._guard.run("read usage", self._client.mget,
                                                 decoded.usage_names)
        else:
            usage_values = []
        usages = self._usages(decoded.trackable, usage_values)
        if usages is None:
            return RedisRead(None, MissReason.TORN_USAGE)
        try:
            reason = decode_metadata(raw_metadata)
        except CodecError as error:
            log.warning("unreadable cached metadata; no customer-level reason",
                        extra={"customer_id": key.customer_id, "resource_id": key.resource_id,
                               "error": str(error)})
            reason = None
        entitlements = EntitlementSet(
            key=key,
            features=tuple(
                replace(e, usage=usages[_usage_key(keys, e)]) if is_usage_trackable(e) else e
                for e in decoded.features
            ),
            credits=tuple(replace(c, usage=usages[_usage_key(keys, c)]) for c in decoded.credits),
            customer_reason=reason,
            timestamp_ms=stamp,
        )
        decoded.hit = _hit(entitlements)
        decoded.hit_values = _as_hit_values(decoded, values[:main], usage_values)
        return decoded.hit

    @staticmethod
    def _usages(trackable: dict[str, Trackable], values: Sequence[Any]) -> dict[str, Usage] | None:
        """Usage per usage key from (value, timestamp) pairs in ``trackable`` order;
        ``None`` if any pair is torn or unreadable."""
        usages: dict[str, Usage] = {}
        for index, key in enumerate(trackable):
            raw, stamp = values[2 * index], decode_timestamp(values[2 * index + 1])
            if raw is None or stamp is None:
                return None
            try:
                usages[key] = decode_usage(raw, stamp)
            except CodecError as error:
                log.warning("unreadable cached usage; treated as a miss",
                            extra={"key": key, "error": str(error)})
                return None
        return usages

    # --- writes ---
    async def put(self, entitlements: EntitlementSet, token: Hashable) -> None:
        await self._write(entitlements)

    async def apply_update(self, entitlements: EntitlementSet) -> None:
        await self._write(entitlements)

    async def _write(self, entitlements: EntitlementSet) -> None:
        """One script for the whole batch (§3.5); each pair under the ordering rule."""
        keys = self._keys.entry(entitlements.key)
        stamp = entitlements.timestamp_ms
        pairs = [
            (keys.value, encode_entitlements(entitlements), stamp),
            (keys.metadata, encode_metadata(entitlements.customer_reason), stamp),
        ]
        for key, entitlement in _trackable(keys, entitlements.features, entitlements.credits).items():
            pairs.append((key, encode_usage(entitlement.usage), entitlement.usage.updated_at_ms or stamp))
        names = [name for key, _, _ in pairs for name in (key, timestamp_key(key))]
        args = [self._ttl]
        for _, value, at in pairs:
            args += [value, encode_timestamp(at)]
        await self._guard.run("write", lambda: self._scripts.write_batch(keys=names, args=args))

    async def set_usage(
        self, key: CustomerKey, target: UsageTarget, ref_id: str, usage: Usage
    ) -> None:
        """§3.9: only if ``K#timestamp`` exists and the set has that usage-trackable
        entitlement; the pair is written under the ordering rule."""
        keys = self._keys.entry(key)
        raw, stamp = await self._guard.run(
            "read", lambda: self._client.mget([keys.value, keys.timestamp])
        )
        if raw is None or decode_timestamp(stamp) is None:
            return
        try:
            features, credits = decode_entitlements(raw)
        except CodecError:
            return
        if target is UsageTarget.FEATURE:
            matches: Sequence[Trackable] = [e for e in features if e.feature.id == ref_id]
        else:
            matches = [c for c in credits if c.currency.currency_id == ref_id]
        if not matches or not is_usage_trackable(matches[0]):
            return
        usage_key = _usage_key(keys, matches[0])
        await self._guard.run("write usage", lambda: self._scripts.write_usage_if_present(
            keys=[keys.timestamp, usage_key, timestamp_key(usage_key)],
            args=[self._ttl, encode_usage(usage), encode_timestamp(usage.updated_at_ms)],
        ))

    async def purge(self, key: CustomerKey) -> None:
        """§3.10: the set and its metadata go; usage keys are left to expire."""
        keys = self._keys.entry(key)
        await self._guard.run("purge", lambda: self._client.delete(
            keys.value, keys.timestamp, keys.metadata, keys.metadata_timestamp
        ))

    # --- single-flight ---
    async def fetch_once(
        self, key: CustomerKey, fetch: Callable[[], Awaitable[EntitlementSet]]
    ) -> EntitlementSet:
        """In process first (§2.2), then across processes (§3.7)."""

        async def reread() -> EntitlementSet | None:
            return (await self.read(key)).entitlements

        return await self._local.run(key, lambda: self._shared.run(key, fetch, reread))

    async def aclose(self) -> None:
        """Stop the single-flight reader and give its pub/sub connection back."""
        await self._shared.aclose()
        await self._guard.aclose()
