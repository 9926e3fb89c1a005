"""The real clock: wall time in epoch ms (UTC) and monotonic seconds."""
from __future__ import annotations

import time

from ports.clock import Clock


class SystemClock(Clock):
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        return time.monotonic()
