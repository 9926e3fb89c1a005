"""A small fault-injecting TCP proxy for tests, on loopback only.

``FaultProxy(target_port)`` listens on 127.0.0.1:0 and forwards to 127.0.0.1:target.
Modes, switchable at any time (they apply to new and existing connections):
- ``pass``: forward both ways;
- ``delay``: hold each chunk ``delay_s`` seconds before forwarding;
- ``blackhole``: accept and read, forward nothing, answer nothing;
- ``reset``: close every connection at once with a TCP RST (SO_LINGER 0);
- ``half_open``: forward client → server, drop server → client (the peer goes silent
  while the TCP connection stays up);
- ``bandwidth``: forward at most ``bytes_per_s`` in each direction.
"""
from __future__ import annotations

import asyncio
import socket
import struct


class FaultProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self._target = (target_host, target_port)
        self.mode = "pass"
        self.delay_s = 0.0
        self.bytes_per_s = 1_000_000
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.connections = 0
        self.port = 0

    async def start(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self._reset_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set(self, mode: str, *, delay_s: float = 0.0, bytes_per_s: int = 1_000_000) -> None:
        assert mode in ("pass", "delay", "blackhole", "reset", "half_open", "bandwidth"), mode
        self.mode, self.delay_s, self.bytes_per_s = mode, delay_s, bytes_per_s
        if mode == "reset":
            self._reset_all()

    def _reset_all(self) -> None:
        for writer in list(self._writers):
            _rst(writer)
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self.mode == "reset":
            _rst(writer)
            return
        self._writers.add(writer)
        try:
            if self.mode == "blackhole":
                while await reader.read(65536):
                    pass
                return
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        except OSError:
            _rst(writer)
            return
        self._writers.add(upstream_writer)
        await asyncio.gather(
            self._pipe(reader, upstream_writer, outbound=True),
            self._pipe(upstream_reader, writer, outbound=False),
            return_exceptions=True,
        )
        for w in (writer, upstream_writer):
            self._writers.discard(w)
            w.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, outbound: bool) -> None:
        while True:
            data = await reader.read(65536)
            if not data:
                writer.close()
                return
            mode = self.mode
            if mode == "blackhole" or (mode == "half_open" and not outbound):
                continue
            if mode == "delay":
                await asyncio.sleep(self.delay_s)
            if mode == "bandwidth":
                await asyncio.sleep(len(data) / self.bytes_per_s)
            writer.write(data)
            await writer.drain()


def _rst(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()
