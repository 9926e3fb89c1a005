"""Typed reads from a parsed JSON request body, each failure naming its field.

Every problem raises the domain's ``InvalidRequestError`` (so the shared error policy
answers 400), with the field path as the client wrote it: ``options.fallback.hasAccess``,
``usages[2].value``. JSON ``null`` means "not given", as an absent field does.
"""
from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from typing import Any, Collection

from domain.model.errors import InvalidRequestError
from domain.model.fallback import INT32_MAX, INT32_MIN
from domain.model.reports import DimensionValue

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
#: The largest body accepted, in bytes: as gRPC's inbound message limit (server.py).
MAX_BODY_BYTES = 16 * 1024 * 1024


def join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_body(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object; an empty body is ``{}`` (every field at its default).

    NaN and Infinity are refused: they are not JSON.
    """
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:
        raise InvalidRequestError("body", f"is not valid JSON ({error})") from None
    return fields(value, "", None)


def fields(value: Any, path: str, allowed: Collection[str] | None) -> dict[str, Any]:
    """``value`` as an object whose keys are all in ``allowed`` (``None``: any key)."""
    if not isinstance(value, dict):
        raise InvalidRequestError(path or "body", "must be a JSON object")
    if allowed is not None:
        for key in value:
            if key not in allowed:
                raise InvalidRequestError(join(path, key), "is not a known field")
    return value


def optional_fields(
    body: dict[str, Any], name: str, path: str, allowed: Collection[str]
) -> dict[str, Any] | None:
    value = body.get(name)
    return None if value is None else fields(value, join(path, name), allowed)


def _text_value(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidRequestError(where, "must be a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequestError(where, "must be valid Unicode (no unpaired surrogates)") from None
    return value


def text(body: dict[str, Any], name: str, path: str = "", default: str = "") -> str:
    """A string field; absent or null is ``default`` (as protobuf's empty string)."""
    value = body.get(name)
    return default if value is None else _text_value(value, join(path, name))


def optional_text(body: dict[str, Any], name: str, path: str = "") -> str | None:
    value = body.get(name)
    return None if value is None else _text_value(value, join(path, name))


def boolean(body: dict[str, Any], name: str, path: str = "") -> bool | None:
    value = body.get(name)
    if value is None or isinstance(value, bool):
        return value
    raise InvalidRequestError(join(path, name), "must be true or false")


def _number_value(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRequestError(where, "must be a number")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise InvalidRequestError(where, "must be a finite number")
    return number


def number(body: dict[str, Any], name: str, path: str = "") -> float | None:
    value = body.get(name)
    return None if value is None else _number_value(value, join(path, name))


def int32(body: dict[str, Any], name: str, path: str = "") -> int | None:
    """An integer in the int32 range (an integral number such as ``3.0`` is accepted)."""
    value = body.get(name)
    if value is None:
        return None
    where = join(path, name)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequestError(where, "must be an integer")
    if not INT32_MIN <= value <= INT32_MAX:
        raise InvalidRequestError(where, f"must be between {INT32_MIN} and {INT32_MAX}")
    return value


def strings(body: dict[str, Any], name: str, path: str = "") -> tuple[str, ...]:
    """An array of strings; absent or null is empty."""
    return tuple(
        _text_value(item, f"{join(path, name)}[{index}]")
        for index, item in enumerate(items(body, name, path))
    )


def items(body: dict[str, Any], name: str, path: str = "") -> list[Any]:
    """An array; absent or null is empty."""
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidRequestError(join(path, name), "must be an array")
    return value


def timestamp_ms(body: dict[str, Any], name: str, path: str = "") -> int | None:
    """An RFC 3339 time with an offset (``2025-07-10T15:29:59.000Z``) as epoch ms."""
    value = body.get(name)
    if value is None:
        return None
    where = join(path, name)
    if not isinstance(value, str):
        raise InvalidRequestError(where, "must be an RFC 3339 date-time string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequestError(where, "must be an RFC 3339 date-time string") from None
    if moment.tzinfo is None:
        raise InvalidRequestError(where, "must include a time zone offset (e.g. Z)")
    try:
        return (moment - _EPOCH) // timedelta(milliseconds=1)
    except OverflowError:
        raise InvalidRequestError(where, "must be between 0001-01-01 and 9999-12-31") from None


def dimensions(body: dict[str, Any], name: str, path: str = "") -> dict[str, DimensionValue]:
    """An object of string, number or boolean values (a dimension's oneof, grpc-contract.md)."""
    value = body.get(name)
    if value is None:
        return {}
    where = join(path, name)
    raw = fields(value, where, None)
    result: dict[str, DimensionValue] = {}
    for key, item in raw.items():
        key = _text_value(key, f"{where} key")
        at = f"{where}[{key!r}]"
        if isinstance(item, (bool, str)):
            result[key] = _text_value(item, at) if isinstance(item, str) else item
        elif isinstance(item, (int, float)):
            result[key] = _number_value(item, at)
        else:
            raise InvalidRequestError(at, "must be a string, number or boolean")
    return result


def iso_utc(epoch_ms: int) -> str:
    """Epoch ms as ISO-8601 UTC with milliseconds: ``2025-07-01T00:00:00.000Z``."""
    m = _EPOCH + timedelta(milliseconds=epoch_ms)
    return (f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:"
            f"{m.second:02d}.{m.microsecond // 1000:03d}Z")
