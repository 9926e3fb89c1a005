"""External clients as async-generator resources: open, yield, close."""
from __future__ import annotations

from typing import AsyncIterator

import httpx

#: Connection pool of the shared upstream client (our choice: enough for a burst of
#: cold misses and writes; httpx queues beyond it within each call's timeout).
MAX_CONNECTIONS = 100


async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    """One shared keep-alive ``httpx.AsyncClient`` per process (upstream-api.md §6)."""
    client = httpx.AsyncClient(
        limits=httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=20),
        timeout=httpx.Timeout(30.0),
        follow_redirects=False,
        trust_env=False,
    )
    try:
        yield client
    finally:
        await client.aclose()
