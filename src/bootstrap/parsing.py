"""Strict parsers for environment values (configuration.md §1). Each raises ``ValueError``
with a message that never repeats a secret."""
from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

from domain.model.fallback import FallbackTable, FallbackValues

_INT = re.compile(r"^[+-]?[0-9]+$")
_BOOLS = {"1": True, "true": True, "0": False, "false": False}


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in _BOOLS:
        raise ValueError(f'expected one of 1, 0, true, false, got "{value}"')
    return _BOOLS[text]


def parse_int(value: Any, *, low: int | None = None, high: int | None = None, what: str = "") -> int:
    """Base-10 integer within ``[low, high]``; ``what`` describes the range in messages."""
    if isinstance(value, bool):
        raise ValueError(f"expected an integer{what}, got {value!r}")
    text = str(value).strip()
    if not _INT.match(text):
        raise ValueError(f'expected an integer{what}, got "{value}"')
    number = int(text)
    if (low is not None and number < low) or (high is not None and number > high):
        raise ValueError(f"expected an integer{what}, got {number}")
    return number


def parse_url(value: Any, schemes: tuple[str, ...], *, forbid_graphql: bool) -> str:
    """A base URL with one of ``schemes``; the trailing ``/`` is dropped."""
    text = str(value).strip().rstrip("/")
    if not any(text.startswith(f"{scheme}://") and len(text) > len(scheme) + 3 for scheme in schemes):
        raise ValueError(f'expected a {" or ".join(s + "://" for s in schemes)} URL, got "{value}"')
    if forbid_graphql and text.endswith("/graphql"):
        raise ValueError("give the base URL; the sidecar appends /graphql itself")
    return text


_FALLBACK_KEYS = {
    "hasAccess": bool,
    "usageLimit": (int, float),
    "isUnlimited": bool,
    "value": (int, float),
    "enumValues": list,
}


def _entry(feature_id: str, raw: Any, warnings: list[str]) -> FallbackValues:
    if not isinstance(raw, dict):
        raise ValueError(f'entry "{feature_id}" must be a JSON object')
    for name, value in raw.items():
        expected = _FALLBACK_KEYS.get(name)
        if expected is None:
            warnings.append(f'ENTITLEMENTS_FALLBACK: entry "{feature_id}": unknown key "{name}" ignored')
            continue
        wrong_bool = isinstance(value, bool) and expected is not bool
        if wrong_bool or not isinstance(value, expected):
            raise ValueError(f'entry "{feature_id}": "{name}" has the wrong JSON type')
        if name == "enumValues" and not all(isinstance(item, str) for item in value):
            raise ValueError(f'entry "{feature_id}": "enumValues" must be an array of strings')
    enum_values = raw.get("enumValues")
    return FallbackValues(
        has_access=raw.get("hasAccess", False),
        value=raw.get("value"),
        is_unlimited=raw.get("isUnlimited"),
        usage_limit=raw.get("usageLimit"),
        enum_values=tuple(enum_values) if enum_values is not None else None,
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"not valid JSON ({name} is not a JSON number)")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f'key "{key}" appears twice')
        result[key] = value
    return result


_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$")


def parse_bind_address(value: Any) -> str:
    """An IPv4/IPv6 literal or a host name to bind to."""
    text = str(value).strip()
    try:
        ipaddress.ip_address(text)
        return text
    except ValueError:
        pass
    if _HOST.match(text) and not text.replace(".", "").isdigit():
        return text
    raise ValueError(f'expected an IP address or host name, got "{value}"')


def parse_fallbacks(text: str | None, warnings: list[str]) -> FallbackTable:
    """``ENTITLEMENTS_FALLBACK`` (decision-rules.md §9.4): strict, order kept.

    Unknown keys inside an entry are ignored and reported through ``warnings``.
    """
    if text is None or not text.strip():
        return FallbackTable({})
    try:
        raw = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as error:
        raise ValueError(f"not valid JSON ({error.msg} at position {error.pos})") from None
    if not isinstance(raw, dict):
        raise ValueError("must be a JSON object keyed by feature id")
    return FallbackTable({key: _entry(key, value, warnings) for key, value in raw.items()})
