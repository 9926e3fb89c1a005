"""A clock that only moves when a test moves it."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from ports.clock import Clock

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def epoch_ms(iso: str) -> int:
    """Epoch milliseconds of an ISO-8601 time; a trailing ``Z`` means UTC.

    A time without an offset is read as UTC too, so tests never depend on the host zone.
    """
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


class FixedClock(Clock):
    """Wall time in epoch ms and monotonic seconds, both fixed until moved.

    ``advance(ms)`` moves both clocks together (wall by ``ms``, monotonic by ``ms / 1000``).
    """

    def __init__(self, now_ms: int | str = "2025-07-10T15:30:00Z", monotonic: float = 1000.0):
        self._now_ms = epoch_ms(now_ms) if isinstance(now_ms, str) else now_ms
        self._monotonic = monotonic

    def now_ms(self) -> int:
        return self._now_ms

    def monotonic(self) -> float:
        return self._monotonic

    def set(self, now_ms: int | str) -> None:
        """Jump the wall clock (the monotonic clock is left alone)."""
        self._now_ms = epoch_ms(now_ms) if isinstance(now_ms, str) else now_ms

    def advance(self, ms: int) -> None:
        self._now_ms += ms
        self._monotonic += ms / 1000
