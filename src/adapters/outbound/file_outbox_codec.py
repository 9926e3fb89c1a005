"""The line formats of the file outbox (format 1): event records and acknowledgements.

A record is one JSON object on one ``\\n``-terminated UTF-8 line::

    {"id": 17, "at": 1752161400000, "n": "login", "c": "acme", "k": "key-1",
     "r": "site-1", "d": {"plan": "pro"}, "t": 1752161399000}

``id`` is the outbox item id, ``at`` the append time (epoch ms); ``n``, ``c``, ``k`` are
the event name, customer id and idempotency key; ``r`` (resource id), ``d`` (dimensions)
and ``t`` (event timestamp, epoch ms) are omitted when empty.

An acknowledgement line is ``{"a": [[first, last], ...]}``: inclusive id ranges. A
compacted acknowledgement log starts with ``{"next": N}``: every id below N was handed
out before, so a restarted outbox never reuses one.

Only complete lines count: a line without its ``\\n`` (a torn write) or one that does not
decode is not a record.
"""
from __future__ import annotations

import json
import re
from typing import Any, Iterable, Sequence

from domain.model.identifiers import CustomerKey
from domain.model.reports import Event

_DUMPS = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _bytes(value: Any) -> bytes:
    # surrogatepass: a str that is not valid Unicode still round-trips byte for byte.
    return (_DUMPS(value) + "\n").encode("utf-8", "surrogatepass")


def _load(line: bytes) -> Any:
    if not line.endswith(b"\n"):
        return None
    try:
        return json.loads(line.decode("utf-8", "surrogatepass"))
    except ValueError:
        return None


def encode_record(item_id: int, at_ms: int, event: Event) -> bytes:
    body: dict[str, Any] = {"id": item_id, "at": at_ms, "n": event.event_name,
                            "c": event.key.customer_id, "k": event.idempotency_key}
    if event.key.resource_id is not None:
        body["r"] = event.key.resource_id
    if event.dimensions:
        body["d"] = event.dimensions
    if event.timestamp_ms is not None:
        body["t"] = event.timestamp_ms
    return _bytes(body)


_HEADER = re.compile(rb'\{"id":(\d+),"at":(-?\d+),')


def record_header(line: bytes) -> tuple[int, int] | None:
    """``(id, at_ms)`` of a complete record line, read from its fixed prefix only (fast:
    recovery reads every line). The rest is checked when the record is read."""
    if not line.endswith(b"}\n"):
        return None
    match = _HEADER.match(line)
    return None if match is None else (int(match[1]), int(match[2]))


def decode_record(line: bytes) -> tuple[int, int, Event] | None:
    """``(id, at_ms, event)`` of a complete, well-formed record line, else ``None``."""
    body = _load(line)
    if not isinstance(body, dict):
        return None
    item_id, at_ms, dims = body.get("id"), body.get("at"), body.get("d", {})
    texts = [body.get(name) for name in ("n", "c", "k")]
    resource, timestamp = body.get("r"), body.get("t")
    if (not _is_int(item_id) or not _is_int(at_ms) or not all(isinstance(t, str) for t in texts)
            or not isinstance(dims, dict) or not (resource is None or isinstance(resource, str))
            or not (timestamp is None or _is_int(timestamp))):
        return None
    name, customer, key = texts
    event = Event(event_name=name, key=CustomerKey(customer, resource), idempotency_key=key,
                  dimensions=dims, timestamp_ms=timestamp)
    return item_id, at_ms, event


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def id_ranges(ids: Iterable[int]) -> list[list[int]]:
    """Sorted, distinct ids as inclusive ``[first, last]`` runs."""
    runs: list[list[int]] = []
    for item_id in sorted(set(ids)):
        if runs and runs[-1][1] == item_id - 1:
            runs[-1][1] = item_id
        else:
            runs.append([item_id, item_id])
    return runs


def encode_acks(ranges: Sequence[Sequence[int]]) -> bytes:
    return _bytes({"a": [list(run) for run in ranges]})


def encode_next(next_id: int) -> bytes:
    return _bytes({"next": next_id})


def decode_ack_line(line: bytes) -> tuple[list[tuple[int, int]], int | None] | None:
    """``(ranges, next)`` of a valid acknowledgement-log line, else ``None``."""
    body = _load(line)
    if not isinstance(body, dict):
        return None
    if "next" in body:
        return ([], body["next"]) if _is_int(body["next"]) else None
    runs = body.get("a")
    if not isinstance(runs, list):
        return None
    ranges = []
    for run in runs:
        if not (isinstance(run, list) and len(run) == 2 and all(_is_int(v) for v in run)
                and run[0] <= run[1]):
            return None
        ranges.append((run[0], run[1]))
    return ranges, None
