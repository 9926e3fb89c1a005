"""Time budgets: a deadline on the monotonic clock (seconds), never a wall-clock time."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Budget:
    """A deadline in monotonic seconds (``Clock.monotonic()``), as use cases receive it."""

    deadline: float

    @classmethod
    def starting(cls, now_monotonic: float, seconds: float) -> Budget:
        return cls(now_monotonic + max(0.0, seconds))

    def remaining(self, now_monotonic: float) -> float:
        """Seconds left, never negative."""
        return max(0.0, self.deadline - now_monotonic)

    def shortened_to(self, other: Budget | None) -> Budget:
        """The earlier of the two deadlines."""
        if other is None or other.deadline >= self.deadline:
            return self
        return other
