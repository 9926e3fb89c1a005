"""Time helpers: the emulator's clock and the upstream DateTime wire format.

Upstream DateTime values are ISO-8601 UTC strings with milliseconds and a ``Z``
suffix, for example ``"2025-07-01T00:00:00.000Z"``.

A *clock* is a zero-argument callable returning the current time as integer
epoch milliseconds (the same unit as the sidecar's ``Clock.now_ms``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone

Clock = Callable[[], int]


def system_clock() -> int:
    """Return the real current time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def iso_ms(epoch_ms: int) -> str:
    """Format epoch milliseconds as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC)."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def parse_iso_ms(text: str) -> int:
    """Parse an ISO-8601 string (``Z`` or an offset) into epoch milliseconds."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)
