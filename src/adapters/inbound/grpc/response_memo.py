"""Responses already built for cache hits, reused while the domain says they still hold.

Most of a cache hit's own cost is evaluating and building the response message. A read
answer is a pure function of the cached set, the query and the time
(``domain.model.freshness``), so the response built for some request bytes is the one
that would be built again as long as the set object and the time bound hold. This
module only keeps request bytes → (freshness, response) for one RPC; the rules are the
domain's:

- ``lookup`` — *before* any read: ``still_current(freshness)`` (the set is still the
  trusted in-process entry and now < its bound; it counts the cache hit). Only for a
  peekable (in-memory) cache.
- ``stored`` — for a cache that must be read every time (Redis): the caller hands the
  stored freshness to the use case as ``known``; if the read gives back the very same
  set before the bound, the use case answers ``UNCHANGED`` and the stored response is
  sent without evaluating or building again.

Bounded by ``max_entries`` (oldest inserted first out). An entry holds its set weakly,
so the memo never keeps an evicted set alive; its own size is about ``max_entries`` ×
(request + response bytes + ~300 B).
"""
from __future__ import annotations

from typing import Any, Callable

from domain.model.freshness import Freshness

#: Entries kept per RPC (our choice: covers the hot customers of a busy sidecar).
DEFAULT_MAX_ENTRIES = 4096


class ResponseMemo:
    """One RPC's memo: ``lookup`` / ``stored`` / ``store`` by serialized request (bytes)."""

    def __init__(self, still_current: Callable[[Freshness], bool],
                 max_entries: int = DEFAULT_MAX_ENTRIES, *, peekable: bool = True) -> None:
        """``peekable``: whether ``lookup`` may answer at all (an in-process cache)."""
        if max_entries < 0:
            raise ValueError("max_entries must be ≥ 0")
        self._still_current = still_current
        self._max = max_entries
        self._peekable = peekable and max_entries > 0
        self._entries: dict[bytes, tuple[Freshness, Any]] = {}

    def lookup(self, request: bytes) -> Any | None:
        """The stored response if it is still the answer before any read (counted by the
        domain as a cache hit), else ``None`` (and a stale entry is dropped)."""
        if not self._peekable:
            return None
        found = self._entries.get(request)
        if found is None:
            return None
        if self._still_current(found[0]):
            return found[1]
        del self._entries[request]
        return None

    def stored(self, request: bytes) -> tuple[Freshness, Any] | None:
        """``(freshness, response)`` kept for ``request``, whether or not it still holds."""
        return self._entries.get(request)

    def store(self, request: bytes, freshness: Freshness | None, response: Any) -> None:
        """Keep ``response`` for ``request`` when the answer has a freshness."""
        if freshness is None or not self._max:
            return
        entries = self._entries
        if request not in entries and len(entries) >= self._max:
            del entries[next(iter(entries))]
        entries[request] = (freshness, response)

    def __len__(self) -> int:
        return len(self._entries)
