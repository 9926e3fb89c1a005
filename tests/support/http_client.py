"""The sidecar's own upstream HTTP client (``bootstrap.resources.http_client``) as an
async context manager, so loopback tests exercise the transport production uses
(httpx over httpx-aiohttp's aiohttp transport), not a default ``httpx.AsyncClient``."""
from __future__ import annotations

import contextlib
from typing import AsyncIterator

import httpx

from bootstrap import resources


@contextlib.asynccontextmanager
async def production_http_client() -> AsyncIterator[httpx.AsyncClient]:
    resource = resources.http_client()
    client = await resource.__anext__()
    try:
        yield client
    finally:
        await resource.aclose()
