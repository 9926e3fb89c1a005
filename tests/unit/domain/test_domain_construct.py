"""domain.model.construct: positional constructors build the very objects the classes do."""
from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass, field, fields

import pytest

from domain.model.construct import positional
from domain.model.entitlement import (
    CreditRate, EntitlementSet, Feature, FeatureEntitlement, Usage,
    new_feature, new_feature_entitlement, new_usage,
)
from domain.model.kinds import AccessDeniedReason, FeatureType, MeterType, ResetPeriod


def test_every_field_lands_where_the_class_puts_it():
    feature_args = ("api", FeatureType.NUMBER, MeterType.INCREMENTAL, "call", "calls", "API")
    usage_args = (7.0, 10, 20, 900)
    assert new_usage(*usage_args) == Usage(*usage_args)
    assert new_feature(*feature_args) == Feature(*feature_args)
    entitlement_args = (Feature(*feature_args), 100.0, True, True,
                        AccessDeniedReason.REQUESTED_USAGE_EXCEEDING_LIMIT, ("a", "b"), 5,
                        CreditRate(1.5, "usd"), ResetPeriod.MONTH, 3, {"k": 1}, Usage(*usage_args))
    built = new_feature_entitlement(*entitlement_args)
    assert built == FeatureEntitlement(*entitlement_args)
    assert hash(new_usage(*usage_args)) == hash(Usage(*usage_args))
    assert [getattr(built, f.name) for f in fields(FeatureEntitlement)] == list(entitlement_args)


def test_the_objects_stay_frozen_and_typed():
    usage = new_usage(1.0, None, None, 0)
    assert type(usage) is Usage
    with pytest.raises(FrozenInstanceError):
        usage.current_usage = 2.0  # type: ignore[misc]


def test_every_field_is_required_positionally():
    with pytest.raises(TypeError):
        new_usage(1.0)  # no defaults


def test_classes_it_cannot_build_are_refused():
    @dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclass(slots=True)
    class NotFrozen:
        a: int

    @dataclass(frozen=True, slots=True)
    class Hidden:
        a: int
        b: int = field(init=False, default=0)

    for cls in (NoSlots, NotFrozen, Hidden, EntitlementSet):  # EntitlementSet: __post_init__
        with pytest.raises(TypeError):
            positional(cls)
