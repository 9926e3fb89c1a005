"""Positional constructors for frozen, slotted dataclasses: the same objects, built faster.

A frozen dataclass's generated ``__init__`` assigns each field through
``object.__setattr__`` (the class's own ``__setattr__`` refuses). ``positional(cls)``
builds a function that creates the instance with ``object.__new__`` and stores each
field through its slot descriptor instead — what ``object.__setattr__`` ends up doing,
without the lookups on the way. It takes every ``init`` field, positionally, in field
order; there are no defaults. Measured (``Usage``, 4 fields): 1.27 → 0.50 µs;
``FeatureEntitlement`` (12): 1.93 → 1.11 µs.

For the readers that build many value objects at once (a cold miss builds ~60 for a set
of 20 entitlements, docs/performance.md). The field list is read from the class itself,
so it cannot drift from it; ``test_construct`` checks the objects equal the class's own.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, TypeVar

T = TypeVar("T")


def positional(cls: type[T]) -> Callable[..., T]:
    """``cls(*values)`` for a frozen dataclass with ``slots=True``, every ``init`` field
    given, in field order.

    Raises ``TypeError`` for a class it cannot build this way: not a frozen slotted
    dataclass, a ``__post_init__``, or a field outside ``__init__`` (those would be
    left unset).
    """
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__}: not a frozen dataclass with slots")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: has __post_init__")
    fields = dataclasses.fields(cls)
    if any(not f.init for f in fields):
        raise TypeError(f"{cls.__name__}: has fields outside __init__")
    names = [f.name for f in fields]
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    lines = [f"def build_{cls.__name__}({', '.join(names)}):", "    self = _new(_cls)"]
    for index, name in enumerate(names):
        namespace[f"_set{index}"] = cls.__dict__[name].__set__
        lines.append(f"    _set{index}(self, {name})")
    lines.append("    return self")
    exec("\n".join(lines), namespace)  # noqa: S102 - names come from the class's own fields
    build = namespace[f"build_{cls.__name__}"]
    build.__doc__ = f"``{cls.__name__}({', '.join(names)})``, positional (construct.positional)."
    return build
