"""Stigg real-time updates over GraphQL WebSocket (``graphql-transport-ws``).

reference: upstream-api.md §9.1 (protocol), §9.4 (reconnecting). One connection per
process; ``events()`` yields ``FeedLive`` once acknowledged and subscribed, every
update, and ``FeedLost`` whenever the live state ends, then reconnects by itself:
- capped exponential backoff with jitter (never a tight loop), reset after a connection
  stayed live for ``stable_after_s``;
- half-open detection: a graphql-transport-ws ``ping`` every ``ping_interval_s`` and,
  when nothing at all arrives for ``dead_after_s``, the socket is dropped;
- an invalid key (close 4401/4403 or reason ``Invalid API key``) waits
  ``auth_retry_s`` between attempts, logs one error per streak and is counted;
- frames up to ``max_message_bytes`` are accepted.
All times here are seconds on the monotonic clock.
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from adapters.outbound import fast_json
from adapters.outbound.stigg_documents import SUBSCRIPTIONS
from adapters.outbound.stigg_ws_messages import read_next_payload
from domain.model.realtime import FeedLive, FeedLost, RealtimeEvent
from ports.clock import Clock
from ports.realtime_updates import RealtimeUpdates
from ports.telemetry import Telemetry

log = logging.getLogger("sidecar.realtime")

SUBPROTOCOL = "graphql-transport-ws"
AUTH_CLOSE_CODES = frozenset({4401, 4403})


@dataclass(frozen=True, slots=True)
class WsTiming:
    """Seconds. Defaults follow upstream-api.md §9.1/§9.4 except ``dead_after_s``: 15 s
    (1.5 pings) so a half-open socket is replaced within two ping intervals."""

    ping_interval_s: float = 10.0
    dead_after_s: float = 15.0
    ack_timeout_s: float = 10.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0
    stable_after_s: float = 60.0
    auth_retry_s: float = 300.0


class _Lost(Exception):
    """The connection ended; ``auth`` when the key was rejected."""

    def __init__(self, reason: str, *, auth: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.auth = auth


class WsRealtimeUpdates(RealtimeUpdates):
    def __init__(
        self,
        *,
        ws_url: str,
        api_key: str,
        instance_id: str,
        user_agent: str,
        clock: Clock,
        telemetry: Telemetry,
        timing: WsTiming = WsTiming(),
        max_message_bytes: int = 64 * 1024 * 1024,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self._url = f"{ws_url}/graphql"
        self._api_key = api_key
        self._instance_id = instance_id
        self._user_agent = user_agent
        self._clock = clock
        self._telemetry = telemetry
        self._timing = timing
        self._max_bytes = max_message_bytes
        self._sleep = sleep
        self._uniform = uniform
        self.live = False
        self.last_message_at: float | None = None
        self.connection_attempts = 0

    def status(self) -> dict[str, Any]:
        """``{"live": bool, "lastMessageAgeSeconds": float | None}`` for probes and logs."""
        age = None
        if self.last_message_at is not None:
            age = round(self._clock.monotonic() - self.last_message_at, 3)
        return {"live": self.live, "lastMessageAgeSeconds": age}

    async def events(self) -> AsyncIterator[RealtimeEvent]:
        failures = 0
        auth_streak = False
        while True:
            queue: asyncio.Queue[RealtimeEvent | _Lost] = asyncio.Queue()
            session = asyncio.ensure_future(self._session(queue))
            lost: _Lost | None = None
            live_since: float | None = None
            try:
                while lost is None:
                    item = await queue.get()
                    if isinstance(item, _Lost):
                        lost = item
                    else:
                        if isinstance(item, FeedLive):
                            live_since = self._clock.monotonic()
                            auth_streak = False
                        yield item
            finally:
                session.cancel()
                await asyncio.gather(session, return_exceptions=True)
                if self.live:
                    self.live = False
                    self._telemetry.realtime_live(False)
            yield FeedLost(lost.reason)
            stable = live_since is not None and (
                self._clock.monotonic() - live_since >= self._timing.stable_after_s
            )
            failures = 0 if stable else failures + 1
            if lost.auth:
                self._telemetry.upstream_error(auth=True)
                if not auth_streak:
                    log.error("real-time updates: the server API key was rejected; "
                              "retrying slowly", extra={"retry_s": self._timing.auth_retry_s})
                auth_streak = True
                await self._sleep(self._timing.auth_retry_s)
                continue
            delay = self._backoff(failures)
            log.info("real-time updates lost; reconnecting",
                     extra={"reason": lost.reason, "delay_s": round(delay, 3)})
            await self._sleep(delay)

    def _backoff(self, failures: int) -> float:
        """1 s, 2 s, 4 s … capped, plus 0–1 s jitter (§9.4); the first retry after a
        stable connection waits only the jitter."""
        t = self._timing
        if failures <= 0:
            return self._uniform(0.0, t.backoff_initial_s)
        base = min(t.backoff_max_s, t.backoff_initial_s * 2 ** (failures - 1))
        return base + self._uniform(0.0, t.backoff_initial_s)

    async def _session(self, queue: asyncio.Queue) -> None:
        """One connection; ends by putting a ``_Lost`` on the queue, never by raising."""
        try:
            await self._connect_and_serve(queue)
            lost = _Lost("connection ended")
        except _Lost as error:
            lost = error
        except ConnectionClosed as error:
            lost = _close_reason(error)
        except InvalidStatus as error:
            status = error.response.status_code
            lost = _Lost(f"upgrade refused with HTTP {status}", auth=status in (401, 403))
        except (OSError, InvalidHandshake, TimeoutError) as error:
            lost = _Lost(f"{type(error).__name__}: {error}")
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - the feed must never die silently
            log.exception("real-time updates: unexpected error")
            lost = _Lost(f"unexpected {type(error).__name__}: {error}")
        queue.put_nowait(lost)

    async def _connect_and_serve(self, queue: asyncio.Queue) -> None:
        self.connection_attempts += 1
        log.info("real-time updates connecting", extra={"url": self._url})
        async with connect(
            self._url,
            subprotocols=[SUBPROTOCOL],
            additional_headers={"X-SDK-INSTANCE-ID": self._instance_id},
            user_agent_header=self._user_agent,
            open_timeout=self._timing.ack_timeout_s,
            ping_interval=None,  # keep-alive is graphql-transport-ws ping/pong, below
            close_timeout=1.0,  # a half-open peer never answers the closing handshake
            max_size=self._max_bytes,
            max_queue=64,
            proxy=None,
        ) as socket:
            await self._send(socket, {"type": "connection_init", "payload": {"headers": {
                "X-API-KEY": self._api_key, "X-SDK-INSTANCE-ID": self._instance_id}}})
            await self._await_ack(socket)
            for index, (operation, document) in enumerate(SUBSCRIPTIONS, start=1):
                await self._send(socket, {"id": str(index), "type": "subscribe", "payload": {
                    "query": document, "operationName": operation, "variables": {}}})
            self.live = True
            self._telemetry.realtime_live(True)
            log.info("real-time updates live")
            queue.put_nowait(FeedLive())
            keepalive = asyncio.ensure_future(self._keepalive(socket))
            try:
                await self._receive(socket, queue)
            finally:
                keepalive.cancel()
                await asyncio.gather(keepalive, return_exceptions=True)

    async def _await_ack(self, socket: ClientConnection) -> None:
        try:
            async with asyncio.timeout(self._timing.ack_timeout_s):
                while True:
                    message = fast_json.loads(await socket.recv())
                    self.last_message_at = self._clock.monotonic()
                    if message.get("type") == "connection_ack":
                        return
                    if message.get("type") == "ping":
                        await self._send(socket, {"type": "pong"})
        except TimeoutError:
            raise _Lost("no connection_ack in time") from None

    async def _receive(self, socket: ClientConnection, queue: asyncio.Queue) -> None:
        async for raw in socket:
            self.last_message_at = self._clock.monotonic()
            try:
                message = fast_json.loads(raw)
            except ValueError:
                log.warning("real-time frame ignored: not JSON")
                continue
            kind = message.get("type") if isinstance(message, dict) else None
            if kind == "next":
                event = read_next_payload(message.get("payload"), self._clock.now_ms())
                if event is not None:
                    queue.put_nowait(event)
            elif kind == "ping":
                await self._send(socket, {"type": "pong"})
            elif kind in ("error", "complete"):
                raise _Lost(f"subscription {message.get('id')} ended with {kind}: "
                            f"{str(message.get('payload'))[:300]}")

    async def _keepalive(self, socket: ClientConnection) -> None:
        """Ping every interval; drop the socket once nothing arrived for ``dead_after_s``."""
        t = self._timing
        tick = min(t.ping_interval_s, t.dead_after_s) / 4
        last_ping = self._clock.monotonic()
        while True:
            await asyncio.sleep(tick)
            now = self._clock.monotonic()
            if self.last_message_at is not None and now - self.last_message_at > t.dead_after_s:
                log.warning("real-time updates: nothing received; dropping the socket",
                            extra={"silent_s": round(now - self.last_message_at, 3)})
                await socket.close(code=4408, reason="keep-alive timeout")
                return
            if now - last_ping >= t.ping_interval_s:
                last_ping = now
                await self._send(socket, {"type": "ping"})

    @staticmethod
    async def _send(socket: ClientConnection, message: dict[str, Any]) -> None:
        await socket.send(json.dumps(message))


def _close_reason(error: ConnectionClosed) -> _Lost:
    frame = error.rcvd
    code = frame.code if frame is not None else None
    reason = frame.reason if frame is not None else ""
    auth = code in AUTH_CLOSE_CODES or "Invalid API key" in (reason or "")
    if "ThrottlerException" in (reason or ""):
        log.info("real-time updates throttled by upstream", extra={"reason": reason})
    return _Lost(f"closed by server ({code} {reason})".strip(), auth=auth)
