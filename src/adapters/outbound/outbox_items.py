"""How outbox items become JSON objects and back: one codec per item type.

Every outbox adapter (files, Redis stream) stores an item as the JSON object its codec
gives, next to the adapter's own fields (``id``, ``at``: codecs never use those names).
A codec's ``decode`` answers ``None`` for an object that is not a well-formed item, so a
damaged record is dropped (and logged by the adapter) rather than crashing the sender.

Event objects (format 1)::

    {"n": "login", "c": "acme", "k": "key-1", "r": "site-1", "d": {"plan": "pro"},
     "t": 1752161399000}

``n``, ``c``, ``k`` are the event name, customer id and idempotency key; ``r`` (resource
id), ``d`` (dimensions) and ``t`` (event timestamp, epoch ms) are omitted when empty.

Usage objects (format 1, buffered ``ReportUsage`` items, ``USAGE_BUFFERING=true``)::

    {"c": "acme", "f": "api-calls", "v": 5.0, "k": "0b6c…-uuid", "b": "DELTA",
     "r": "site-1", "d": {"region": "eu"}, "t": 1752161399000}

``c``, ``f``, ``v``, ``k`` are the customer id, feature id, value (a finite float) and
the idempotency key fixed before the first attempt (delivery reuses it, so upstream
counts the item once). ``b`` (update behaviour ``DELTA``/``SET``; absent = upstream's
default, DELTA), ``r`` and ``d`` are omitted when empty. ``t`` is the usage timestamp
(epoch ms): ``BufferUsage`` always fills it before appending, with the caller's
timestamp or else the acceptance time, so a late delivery does not move the usage into
a later usage period (our choice). The local answer needs nothing more: its
measurement id is derived from ``k`` (``local-<k>``), and its usage figures are not
stored (they were given once, at acceptance).
"""
from __future__ import annotations

import math
from typing import Any, Protocol, TypeVar

from domain.model.identifiers import CustomerKey
from domain.model.kinds import UsageUpdateBehavior
from domain.model.reports import Event, UsageReport

Item = TypeVar("Item")


class ItemCodec(Protocol[Item]):
    """``encode(item) -> dict`` (JSON-able, without the keys ``id``/``at``);
    ``decode(dict) -> item | None``."""

    def encode(self, item: Item) -> dict[str, Any]: ...

    def decode(self, body: dict[str, Any]) -> Item | None: ...


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def optional(body: dict[str, Any], name: str, kind: type) -> tuple[bool, Any]:
    """``(ok, value)`` of an optional field: absent → ``(True, None)``."""
    value = body.get(name)
    if value is None:
        return True, None
    ok = is_int(value) if kind is int else isinstance(value, kind)
    return ok, value


def _encode_common(body: dict[str, Any], key: CustomerKey, dimensions: dict[str, Any],
                   timestamp_ms: int | None) -> dict[str, Any]:
    """Adds the fields events and usage reports share: ``r``, ``d``, ``t`` (when set)."""
    if key.resource_id is not None:
        body["r"] = key.resource_id
    if dimensions:
        body["d"] = dimensions
    if timestamp_ms is not None:
        body["t"] = timestamp_ms
    return body


def _decode_common(body: dict[str, Any]) -> tuple[str | None, dict[str, Any], int | None] | None:
    """``(resource id, dimensions, timestamp ms)`` of the shared fields, or ``None`` when
    one of them is malformed."""
    dims = body.get("d", {})
    resource_ok, resource = optional(body, "r", str)
    timestamp_ok, timestamp = optional(body, "t", int)
    if not isinstance(dims, dict) or not resource_ok or not timestamp_ok:
        return None
    return resource, dims, timestamp


class EventCodec:
    """Events as described in the module docstring."""

    def encode(self, event: Event) -> dict[str, Any]:
        body = {"n": event.event_name, "c": event.key.customer_id, "k": event.idempotency_key}
        return _encode_common(body, event.key, event.dimensions, event.timestamp_ms)

    def decode(self, body: dict[str, Any]) -> Event | None:
        texts = [body.get(name) for name in ("n", "c", "k")]
        common = _decode_common(body)
        if not all(isinstance(t, str) for t in texts) or common is None:
            return None
        name, customer, key = texts
        resource, dims, timestamp = common
        return Event(event_name=name, key=CustomerKey(customer, resource), idempotency_key=key,
                     dimensions=dims, timestamp_ms=timestamp)


EVENT_CODEC: ItemCodec[Event] = EventCodec()


class UsageCodec:
    """Usage reports as described in the module docstring."""

    def encode(self, item: UsageReport) -> dict[str, Any]:
        body: dict[str, Any] = {"c": item.key.customer_id, "f": item.feature_id,
                                "v": item.value, "k": item.idempotency_key}
        if item.update_behavior is not None:
            body["b"] = item.update_behavior.value
        return _encode_common(body, item.key, item.dimensions, item.timestamp_ms)

    def decode(self, body: dict[str, Any]) -> UsageReport | None:
        texts = [body.get(name) for name in ("c", "f", "k")]
        value = body.get("v")
        behavior_ok, behavior = optional(body, "b", str)
        common = _decode_common(body)
        if (not all(isinstance(t, str) for t in texts) or common is None or not behavior_ok
                or not isinstance(value, (int, float)) or isinstance(value, bool)
                or not math.isfinite(value)
                or behavior not in (None, *(b.value for b in UsageUpdateBehavior))):
            return None
        customer, feature, key = texts
        resource, dims, timestamp = common
        return UsageReport(key=CustomerKey(customer, resource), feature_id=feature,
                           value=float(value), idempotency_key=key,
                           update_behavior=UsageUpdateBehavior(behavior) if behavior else None,
                           dimensions=dims, timestamp_ms=timestamp)


USAGE_CODEC: ItemCodec[UsageReport] = UsageCodec()
