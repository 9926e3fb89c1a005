"""What write use cases share: the clock and the per-mutation budget."""
from __future__ import annotations

from dataclasses import dataclass

from domain.model.budget import Budget
from domain.model.errors import InvalidRequestError
from domain.model.reports import DimensionValue
from domain.model.validation import require_id
from ports.clock import Clock

#: Most dimensions accepted on one usage item or event (our choice: a bound on work and
#: memory per item; real dimension maps hold a handful of keys).
MAX_DIMENSIONS = 100
#: Largest string dimension value, in characters (our choice: upstream's per-event limit
#: is 1 MB encoded; a usage item carries at most 100 dimensions).
MAX_DIMENSION_TEXT = 10_000


@dataclass(frozen=True, slots=True)
class WriteContext:
    """``timeout_s`` is ``API_TIMEOUT_MS`` in seconds: the budget of each mutation,
    retries included (upstream-api.md §6)."""

    clock: Clock
    timeout_s: float

    def budget(self, deadline: Budget | None) -> Budget:
        return Budget.starting(self.clock.monotonic(), self.timeout_s).shortened_to(deadline)


def check_dimensions(
    field: str, dimensions: dict[str, DimensionValue], *, max_text: int | None = MAX_DIMENSION_TEXT
) -> None:
    """Bound the map's size, key length and (unless ``max_text`` is ``None``) text values;
    raises ``InvalidRequestError`` naming ``field``. Events pass ``None``: their bound is
    upstream's 1 MB per encoded event."""
    if len(dimensions) > MAX_DIMENSIONS:
        raise InvalidRequestError(field, f"must have at most {MAX_DIMENSIONS} entries")
    for name, value in dimensions.items():
        require_id(f"{field} key", name)
        if max_text is not None and isinstance(value, str) and len(value) > max_text:
            raise InvalidRequestError(f"{field}[{name!r}]", f"must be at most {max_text} characters")


def chunks(items: list, size: int) -> list[list]:
    """Consecutive slices of at most ``size`` items, in order."""
    return [items[start : start + size] for start in range(0, len(items), size)]
