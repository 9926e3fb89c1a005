"""Responses already built for trusted cache hits, reused while the domain says so.

On the in-memory hot path most of a check's cost is mapping the request, evaluating and
building the response message. When the same request bytes come again and the domain's
``still_current(freshness)`` holds (the very same trusted set, before its time bound:
``domain.model.freshness``), the response built last time is the response that would be
built now, so it is returned as is. The rule lives in the domain; this module only keeps
bytes → (freshness, response).

Bounded by ``max_entries`` per RPC (oldest inserted first out). An entry holds its set
weakly, so the memo never keeps an evicted set alive; its own size is about
``max_entries`` × (request + response bytes + ~300 B) per RPC.
"""
from __future__ import annotations

from typing import Any, Callable

from domain.model.freshness import Freshness

#: Entries kept per RPC (our choice: covers the hot customers of a busy sidecar).
DEFAULT_MAX_ENTRIES = 4096


class ResponseMemo:
    """``lookup`` / ``store`` per RPC name and serialized request (bytes)."""

    def __init__(self, still_current: Callable[[Freshness], bool],
                 max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_entries < 0:
            raise ValueError("max_entries must be ≥ 0")
        self._still_current = still_current
        self._max = max_entries
        self._by_rpc: dict[str, dict[bytes, tuple[Freshness, Any]]] = {}

    def lookup(self, rpc: str, request: bytes) -> Any | None:
        """The stored response if it is still the answer (counted by the domain as a
        cache hit), else ``None`` (and the stale entry is dropped)."""
        entries = self._by_rpc.get(rpc)
        if not entries:
            return None
        found = entries.get(request)
        if found is None:
            return None
        if self._still_current(found[0]):
            return found[1]
        del entries[request]
        return None

    def store(self, rpc: str, request: bytes, freshness: Freshness | None, response: Any) -> None:
        """Keep ``response`` for ``request`` when the answer has a freshness."""
        if freshness is None or not self._max:
            return
        entries = self._by_rpc.setdefault(rpc, {})
        if request not in entries and len(entries) >= self._max:
            del entries[next(iter(entries))]
        entries[request] = (freshness, response)

    def __len__(self) -> int:
        return sum(map(len, self._by_rpc.values()))
