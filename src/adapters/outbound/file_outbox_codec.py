"""The line formats of the file outbox (format 1): item records and acknowledgements.

A record is one JSON object on one ``\\n``-terminated UTF-8 line::

    {"id": 17, "at": 1752161400000, "n": "login", "c": "acme", "k": "key-1", ...}

``id`` is the outbox item id, ``at`` the append time (epoch ms); the other fields are
the item's, as its codec writes them (``outbox_items``: events, usage reports).

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

from adapters.outbound.outbox_items import Item, ItemCodec, is_int

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


def encode_record(item_id: int, at_ms: int, fields: dict[str, Any]) -> bytes:
    """One record line: ``id`` and ``at`` first (``record_header`` reads them), then the
    item codec's ``fields``."""
    return _bytes({"id": item_id, "at": at_ms, **fields})


_HEADER = re.compile(rb'\{"id":(\d+),"at":(-?\d+),')


def record_header(line: bytes) -> tuple[int, int] | None:
    """``(id, at_ms)`` of a complete record line, read from its fixed prefix only (fast:
    recovery reads every line). The rest is checked when the record is read."""
    if not line.endswith(b"}\n"):
        return None
    match = _HEADER.match(line)
    return None if match is None else (int(match[1]), int(match[2]))


def decode_record(line: bytes, codec: ItemCodec[Item]) -> tuple[int, int, Item] | None:
    """``(id, at_ms, item)`` of a complete, well-formed record line, else ``None``."""
    body = _load(line)
    if not isinstance(body, dict):
        return None
    item_id, at_ms = body.get("id"), body.get("at")
    if not is_int(item_id) or not is_int(at_ms):
        return None
    item = codec.decode(body)
    return None if item is None else (item_id, at_ms, item)


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
        return ([], body["next"]) if is_int(body["next"]) else None
    runs = body.get("a")
    if not isinstance(runs, list):
        return None
    ranges = []
    for run in runs:
        if not (isinstance(run, list) and len(run) == 2 and all(is_int(v) for v in run)
                and run[0] <= run[1]):
            return None
        ranges.append((run[0], run[1]))
    return ranges, None
