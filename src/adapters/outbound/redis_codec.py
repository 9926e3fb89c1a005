"""Redis value formats: what we write, and a tolerant reader of the reference formats.

reference: caching-and-redis.md §3.3.
- Entitlements: ours is ``{"format": 1, "entitlements": [...]}``; usage is never inside.
  A value without an integer ``format`` is a reference map whose keys are ignored and
  whose values are read by content: current ``{"calculatedEntitlement", "usageData"}``
  or legacy ``{"calculatedEntitlement", "featureUsage"}`` entries.
- Usage: ``{"currentUsage", "usagePeriodStart", "usagePeriodEnd"}``, times epoch ms.
- Metadata: ``{"accessDeniedReason": <name or null>}``.
- Timestamps: epoch ms as decimal digits.
Times in reference values may be epoch ms or ISO-8601 strings. Decoding failures raise
``CodecError``; the caller turns them into a miss and logs them. Pure functions.
"""
from __future__ import annotations

import json
import logging
import math
import re
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any, Mapping, TypeVar

from adapters.outbound import fast_json
from domain.model.entitlement import (
    CreditEntitlement,
    CreditRate,
    Currency,
    EntitlementSet,
    Feature,
    FeatureEntitlement,
    Usage,
)
from domain.model.kinds import AccessDeniedReason, FeatureKind, FeatureType, MeterType, ResetPeriod

log = logging.getLogger("sidecar.cache.redis")

#: The version of our entitlements format written by this code.
FORMAT_VERSION = 1

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)
_DIGITS = re.compile(rb"[0-9]+")
E = TypeVar("E", bound=Enum)
Raw = bytes | str


class CodecError(ValueError):
    """A stored value that cannot be read (treated as a miss)."""


class UnknownFormatError(CodecError):
    """Our format with a version this code does not know (a newer writer)."""


def is_usage_trackable(entitlement: FeatureEntitlement | CreditEntitlement) -> bool:
    """Metered features and credit wallets have usage keys (§1)."""
    return isinstance(entitlement, CreditEntitlement) or entitlement.kind is FeatureKind.METERED


# --- writing -------------------------------------------------------------------------------


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def _num(value: float | None) -> float | int | None:
    """Integral floats as JSON integers (``1000`` rather than ``1000.0``)."""
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


def _name(value: Enum | None) -> Any:
    return None if value is None else value.value


def encode_timestamp(ms: int) -> str:
    return str(int(ms))


def encode_metadata(reason: AccessDeniedReason | None) -> str:
    return _dumps({"accessDeniedReason": _name(reason)})


def encode_usage(usage: Usage) -> str:
    return _dumps({
        "currentUsage": _num(usage.current_usage),
        "usagePeriodStart": usage.period_start_ms,
        "usagePeriodEnd": usage.period_end_ms,
    })


def _feature_json(e: FeatureEntitlement) -> dict[str, Any]:
    f = e.feature
    return {
        "type": "FEATURE",
        "feature": {
            "id": f.id, "featureType": f.feature_type.value, "meterType": _name(f.meter_type),
            "units": f.units, "unitsPlural": f.units_plural, "displayName": f.display_name,
        },
        "usageLimit": _num(e.usage_limit),
        "hasUnlimitedUsage": e.has_unlimited_usage,
        "hasSoftLimit": e.has_soft_limit,
        "accessDeniedReason": _name(e.denial_reason),
        "enumValues": list(e.enum_values),
        "validUntil": e.valid_until_ms,
        "creditRate": (
            None if e.credit_rate is None
            else {"amount": _num(e.credit_rate.amount), "currencyId": e.credit_rate.currency_id}
        ),
        "resetPeriod": _name(e.reset_period),
        "resetPeriodConfiguration": e.reset_period_configuration,
        "usagePeriodAnchor": e.usage_period_anchor_ms,
    }


def _credit_json(c: CreditEntitlement) -> dict[str, Any]:
    cur = c.currency
    return {
        "type": "CREDIT",
        "currency": {
            "currencyId": cur.currency_id, "displayName": cur.display_name,
            "description": cur.description, "unitSingular": cur.unit_singular,
            "unitPlural": cur.unit_plural, "additionalMetaData": cur.additional_meta_data,
        },
        "usageLimit": _num(c.usage_limit),
        "hasSoftLimit": c.has_soft_limit,
        "accessDeniedReason": _name(c.denial_reason),
        "validUntil": c.valid_until_ms,
    }


def encode_entitlements(entitlements: EntitlementSet) -> str:
    """Our format 1: features then credits, each list in upstream order; no usage."""
    items = [_feature_json(e) for e in entitlements.features]
    items += [_credit_json(c) for c in entitlements.credits]
    return _dumps({"format": FORMAT_VERSION, "entitlements": items})


# --- reading -------------------------------------------------------------------------------


def _bytes(raw: Raw) -> bytes:
    return raw.encode() if isinstance(raw, str) else raw


def decode_timestamp(raw: Raw | None) -> int | None:
    """Epoch ms, or ``None`` when missing or not decimal digits (counts as missing)."""
    if raw is None:
        return None
    data = _bytes(raw).strip()
    return int(data) if _DIGITS.fullmatch(data) else None


def _json(raw: Raw, what: str) -> Any:
    try:
        return fast_json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise CodecError(f"{what}: not JSON ({error})") from None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _time_ms(value: Any) -> int | None:
    """Epoch ms from a number or an ISO-8601 string (naive means UTC); else ``None``."""
    if (number := _number(value)) is not None:
        return int(number)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return (moment - _EPOCH) // _MS
    return None


def _enum(kind: type[E], value: Any) -> E | None:
    try:
        return kind(value) if value is not None else None
    except ValueError:
        return None


def _reason(entry: Mapping[str, Any]) -> AccessDeniedReason | None:
    """The per-entitlement denial; an explicit ``isGranted`` (reference values) decides."""
    reason = AccessDeniedReason.parse(_text(entry.get("accessDeniedReason")))
    granted = entry.get("isGranted")
    if granted is True:
        return None
    if granted is False:
        return reason or AccessDeniedReason.UNKNOWN
    return reason


def decode_metadata(raw: Raw | None) -> AccessDeniedReason | None:
    """The customer-level reason; missing metadata means none (older writers, §3.6)."""
    if raw is None:
        return None
    value = _json(raw, "metadata")
    return AccessDeniedReason.parse(_text(_mapping(value).get("accessDeniedReason")))


def decode_usage(raw: Raw, updated_at_ms: int) -> Usage:
    """A usage value; ``nextResetDate`` is accepted for ``usagePeriodEnd`` (legacy)."""
    value = _json(raw, "usage")
    if not isinstance(value, dict):
        raise CodecError("usage: not a JSON object")
    end = value.get("usagePeriodEnd", value.get("nextResetDate"))
    return Usage(
        current_usage=_number(value.get("currentUsage")) or 0.0,
        period_start_ms=_time_ms(value.get("usagePeriodStart")),
        period_end_ms=_time_ms(end),
        updated_at_ms=updated_at_ms,
    )


def _feature(entry: Mapping[str, Any], reset: Mapping[str, Any], legacy: bool) -> FeatureEntitlement | None:
    raw = _mapping(entry.get("feature"))
    feature_id = _text(raw.get("id")) or _text(raw.get("refId"))
    feature_type = _enum(FeatureType, raw.get("featureType"))
    if not feature_id or feature_type is None:
        log.warning("cached entitlement without a usable feature skipped",
                    extra={"feature": repr(dict(raw))[:200]})
        return None
    display_name = _text(raw.get("displayName"))
    rate = _mapping(entry.get("creditRate"))
    amount, currency_id = _number(rate.get("amount")), _text(rate.get("currencyId"))
    config = reset.get("resetPeriodConfiguration")
    return FeatureEntitlement(
        feature=Feature(
            id=feature_id, feature_type=feature_type,
            meter_type=_enum(MeterType, raw.get("meterType")),
            units=_text(raw.get("units", raw.get("featureUnits"))),
            units_plural=_text(raw.get("unitsPlural", raw.get("featureUnitsPlural"))),
            display_name=display_name if display_name is not None or not legacy else feature_id,
        ),
        usage_limit=_number(entry.get("usageLimit")),
        has_unlimited_usage=entry.get("hasUnlimitedUsage") is True,
        has_soft_limit=entry.get("hasSoftLimit") is True,
        denial_reason=_reason(entry),
        enum_values=tuple(v for v in _list(entry.get("enumValues")) if isinstance(v, str)),
        valid_until_ms=_time_ms(entry.get("validUntil")),
        credit_rate=CreditRate(amount, currency_id) if amount is not None and currency_id else None,
        reset_period=_enum(ResetPeriod, reset.get("resetPeriod")),
        usage_period_anchor_ms=_time_ms(reset.get("usagePeriodAnchor")),
        reset_period_configuration=dict(config) if isinstance(config, dict) else None,
    )


def _credit(entry: Mapping[str, Any]) -> CreditEntitlement | None:
    raw = _mapping(entry.get("currency"))
    currency_id = _text(raw.get("currencyId"))
    if not currency_id:
        log.warning("cached credit entitlement without a currency skipped")
        return None
    meta = raw.get("additionalMetaData")
    return CreditEntitlement(
        currency=Currency(
            currency_id=currency_id, display_name=_text(raw.get("displayName")) or "",
            description=_text(raw.get("description")), unit_singular=_text(raw.get("unitSingular")),
            unit_plural=_text(raw.get("unitPlural")),
            additional_meta_data=dict(meta) if isinstance(meta, dict) else None,
        ),
        usage_limit=_number(entry.get("usageLimit")) or 0.0,
        has_soft_limit=entry.get("hasSoftLimit") is True,
        denial_reason=_reason(entry),
        valid_until_ms=_time_ms(entry.get("validUntil")),
    )


def _entry(entry: Mapping[str, Any], legacy_usage: Mapping[str, Any] | None):
    """One entitlement object by content: ``type``, else a ``currency`` or a ``feature``."""
    kind = entry.get("type")
    if legacy_usage is not None:
        return _feature(entry, legacy_usage, legacy=True)
    if kind == "CREDIT" or (kind is None and "currency" in entry):
        return _credit(entry)
    if kind == "FEATURE" or (kind is None and "feature" in entry):
        return _feature(entry, entry, legacy=False)
    log.warning("cached entitlement of unknown type skipped", extra={"type": repr(kind)})
    return None


def _reference_entries(value: Mapping[str, Any]):
    """The values of a reference map (keys ignored), as (entitlement, legacy usage) pairs."""
    for item in value.values():
        item = _mapping(item)
        calculated = item.get("calculatedEntitlement")
        if not isinstance(calculated, dict):
            raise CodecError("reference entry without a calculatedEntitlement object")
        if "featureUsage" in item:
            yield calculated, _mapping(item.get("featureUsage"))
        else:
            yield calculated, None


def decode_entitlements(
    raw: Raw,
) -> tuple[tuple[FeatureEntitlement, ...], tuple[CreditEntitlement, ...]]:
    """Features and credits (usage not filled in) from our format or a reference format.

    Raises ``UnknownFormatError`` for our format with another version, ``CodecError``
    for anything unreadable.
    """
    value = _json(raw, "entitlements")
    if not isinstance(value, dict):
        raise CodecError("entitlements: not a JSON object")
    version = value.get("format")
    if isinstance(version, int) and not isinstance(version, bool):
        if version != FORMAT_VERSION:
            raise UnknownFormatError(f"entitlements: unknown format version {version}")
        items = value.get("entitlements")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise CodecError("entitlements: format 1 without an entitlements list")
        pairs = [(item, None) for item in items]
    else:
        pairs = list(_reference_entries(value))
    features: list[FeatureEntitlement] = []
    credits: list[CreditEntitlement] = []
    for entry, legacy in pairs:
        decoded = _entry(entry, legacy)
        if isinstance(decoded, FeatureEntitlement):
            features.append(decoded)
        elif isinstance(decoded, CreditEntitlement):
            credits.append(decoded)
    return tuple(features), tuple(credits)
