"""Telemetry port: what the core reports about its own behaviour (metrics, counted logs)."""
from __future__ import annotations

from abc import abstractmethod
from typing import Protocol, runtime_checkable


@runtime_checkable
class Telemetry(Protocol):
    @abstractmethod
    def cache_hit(self) -> None:
        """A read answered from a trusted cache entry."""

    @abstractmethod
    def cache_miss(self) -> None:
        """A read that had to fetch (absent, untrusted or expired entry)."""

    @abstractmethod
    def last_known_good(self) -> None:
        """A read answered from an untrusted entry because the refetch failed."""

    @abstractmethod
    def fallback(self, rpc: str, reason: str) -> None:
        """An answer built from fallback values; ``reason`` is the denial reason name or
        ``granted``."""

    @abstractmethod
    def upstream_error(self, *, auth: bool) -> None:
        """An upstream call failed; ``auth`` when the API key was rejected."""

    @abstractmethod
    def invalid_request(self, field: str) -> None:
        """A read with unusable input answered by fallback (decision-rules.md §8.8)."""

    @abstractmethod
    def realtime_live(self, live: bool) -> None:
        """The real-time feed became live (``True``) or stopped being live."""


class NullTelemetry(Telemetry):
    """Telemetry that records nothing (tests and tools)."""

    def cache_hit(self) -> None:
        pass

    def cache_miss(self) -> None:
        pass

    def last_known_good(self) -> None:
        pass

    def fallback(self, rpc: str, reason: str) -> None:
        pass

    def upstream_error(self, *, auth: bool) -> None:
        pass

    def invalid_request(self, field: str) -> None:
        pass

    def realtime_live(self, live: bool) -> None:
        pass
