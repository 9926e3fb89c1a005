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

Bounded by ``max_entries`` and by ``max_bytes`` of request + serialized response bytes
(oldest inserted first out); requests larger than ``MAX_REQUEST_BYTES`` are never kept
(a caller padding requests with unknown fields must not fill memory with keys). An entry
holds its set weakly, so the memo never keeps an evicted set alive; each entry costs its
bytes plus ~300 B.
"""
from __future__ import annotations

from typing import Any, Callable

from domain.model.freshness import Freshness

#: Entries kept per RPC (our choice: covers the hot customers of a busy sidecar).
DEFAULT_MAX_ENTRIES = 4096
#: Request + response bytes kept per RPC (our choice: 4096 typed checks of ~250 B fit
#: easily; ~800 bulk answers of 50 entitlements).
DEFAULT_MAX_BYTES = 4 * 1024 * 1024
#: Larger requests are answered but never kept (ids are ≤ 1024 characters each, so a
#: real request of any read RPC is far smaller).
MAX_REQUEST_BYTES = 8 * 1024
#: What the stored inputs of one request (a ``CustomerKey`` and a ``FeatureQuery``) are
#: counted as, in bytes: ~330 B of Python objects measured for a typed check's (review
#: finding), rounded up.
INPUTS_BYTES = 512


class ResponseMemo:
    """One RPC's memo: ``lookup`` / ``stored`` / ``store`` of serialized responses
    (bytes) by serialized request (bytes)."""

    def __init__(self, still_current: Callable[[Freshness], bool],
                 max_entries: int = DEFAULT_MAX_ENTRIES, *, peekable: bool = True,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        """``peekable``: whether ``lookup`` may answer at all (an in-process cache).
        ``max_bytes``: bound of request + response bytes held (responses are kept
        serialized)."""
        if max_entries < 0 or max_bytes < 0:
            raise ValueError("max_entries and max_bytes must be ≥ 0")
        self._still_current = still_current
        self._max = max_entries
        self._max_bytes = max_bytes
        self._bytes = 0
        self._peekable = peekable and max_entries > 0
        #: request → (freshness, response, inputs, bytes held)
        self._entries: dict[bytes, tuple[Freshness, bytes, Any, int]] = {}

    def lookup(self, request: bytes) -> bytes | None:
        """The stored response if it is still the answer before any read (counted by the
        domain as a cache hit), else ``None`` (and a stale entry is dropped)."""
        if not self._peekable:
            return None
        found = self._entries.get(request)
        if found is None:
            return None
        if self._still_current(found[0]):
            return found[1]
        self._drop(request)
        return None

    def stored(self, request: bytes) -> tuple[Freshness, bytes, Any, int] | None:
        """``(freshness, response, inputs, bytes held)`` kept for ``request``, whether or
        not it still holds."""
        return self._entries.get(request)

    def store(self, request: bytes, freshness: Freshness | None, response: bytes,
              inputs: Any = None) -> None:
        """Keep ``response`` for ``request`` when the answer has a freshness and both fit.
        ``inputs``: what the request mapped to (its ids and query), counted as
        ``INPUTS_BYTES``."""
        if freshness is None or not self._max or len(request) > MAX_REQUEST_BYTES:
            return
        size = len(request) + len(response)
        if inputs is not None:
            size += INPUTS_BYTES
        if size > self._max_bytes:
            return
        self._drop(request)
        entries = self._entries
        while entries and (len(entries) >= self._max or self._bytes + size > self._max_bytes):
            self._drop(next(iter(entries)))
        entries[request] = (freshness, response, inputs, size)
        self._bytes += size

    def _drop(self, request: bytes) -> None:
        found = self._entries.pop(request, None)
        if found is not None:
            self._bytes -= found[3]

    @property
    def size_bytes(self) -> int:
        """Request + response bytes held."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)
