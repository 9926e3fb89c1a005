"""Real-time updates port: a stream of feed events, including live/lost markers."""
from __future__ import annotations

from abc import abstractmethod
from typing import AsyncIterator, Protocol, runtime_checkable

from domain.model.realtime import RealtimeEvent


@runtime_checkable
class RealtimeUpdates(Protocol):
    @abstractmethod
    def events(self) -> AsyncIterator[RealtimeEvent]:
        """Events until cancelled. Reconnects by itself; every loss of the live state is
        reported as ``FeedLost`` and every new live state as ``FeedLive``."""
