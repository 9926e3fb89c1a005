"""Clock port: wall time for usage periods, monotonic time for budgets."""
from __future__ import annotations

from abc import abstractmethod
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    @abstractmethod
    def now_ms(self) -> int:
        """Wall-clock time as epoch milliseconds, UTC (usage periods, expiry)."""

    @abstractmethod
    def monotonic(self) -> float:
        """Monotonic seconds (budgets and timers; unaffected by wall-clock jumps)."""
