"""The sidecar's own upstream transport (``bootstrap.resources.http_transport``) as an
async context manager, so loopback tests exercise the transport production uses
(httpx-aiohttp's aiohttp transport), not httpx's default one."""
from __future__ import annotations

import contextlib
from typing import AsyncIterator

import httpx

from bootstrap import resources


@contextlib.asynccontextmanager
async def production_http_transport() -> AsyncIterator[httpx.AsyncBaseTransport]:
    resource = resources.http_transport()
    transport = await resource.__anext__()
    try:
        yield transport
    finally:
        await resource.aclose()
