"""A private ``redis-server`` for tests: free loopback port, temp dir, no persistence.

Never touches the machine's own Redis: the server listens on 127.0.0.1 on a port chosen
free by the OS (never 6379), with ``--save "" --appendonly no`` in its own directory.
It can be restarted on the same port (empty), paused (SIGSTOP) and resumed (SIGCONT),
or killed (SIGKILL). ``args`` adds server options after the defaults (later ones win),
e.g. ``("--appendonly", "yes", "--appendfsync", "always")``: the AOF lives in the
server's own directory, so a restart then reloads what was written.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator, Sequence

HOST = "127.0.0.1"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
_RESERVED = {6379}


def free_port() -> int:
    """A loopback TCP port that was free a moment ago (never Redis's default 6379)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((HOST, 0))
            port = probe.getsockname()[1]
        if port not in _RESERVED:
            return port


def ping(port: int, timeout_s: float = 0.2) -> bool:
    """True if a Redis on ``port`` answers PING with PONG."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout_s) as conn:
            conn.sendall(b"*1\r\n$4\r\nPING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One ``redis-server`` process; ``port`` is fixed for the object's lifetime."""

    def __init__(self, port: int | None = None, start_timeout_s: float = 10.0,
                 args: Sequence[str] = ()) -> None:
        if port in _RESERVED:
            raise ValueError("refusing to use the machine's default Redis port")
        self.port = port or free_port()
        self.host = HOST
        self._start_timeout_s = start_timeout_s
        self._dir = Path(tempfile.mkdtemp(prefix="test-redis-"))
        self._process: subprocess.Popen[bytes] | None = None
        self._paused = False
        self._args = list(args)

    # --- lifecycle ---
    def start(self) -> None:
        """Start the server and wait until PING works."""
        if self.running:
            return
        self._process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port", str(self.port), "--bind", HOST,
                "--save", "", "--appendonly", "no",
                "--dir", str(self._dir), "--logfile", str(self._dir / "redis.log"),
                "--daemonize", "no", "--protected-mode", "yes",
                *self._args,
            ],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + self._start_timeout_s
        while not ping(self.port):
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited at start: {self.log_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"redis-server did not answer PING: {self.log_tail()}")
            time.sleep(0.01)

    def stop(self) -> None:
        """Terminate gracefully (SIGTERM), killing it if it does not exit in time."""
        process = self._process
        if process is None:
            return
        self.resume()
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self._process = None

    def kill(self) -> None:
        """SIGKILL: the server vanishes at once (connections reset)."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait(timeout=5)
        self._process = None
        self._paused = False

    def restart(self, *, kill: bool = True) -> None:
        """A new server on the same port (killed first unless ``kill=False``): empty,
        unless ``args`` turned persistence on."""
        self.kill() if kill else self.stop()
        self.start()

    def close(self) -> None:
        """Stop and remove the temp dir."""
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    # --- faults ---
    def pause(self) -> None:
        """SIGSTOP: connections stay open but nothing is answered."""
        if self._process is not None and not self._paused:
            os.kill(self._process.pid, signal.SIGSTOP)
            self._paused = True

    def resume(self) -> None:
        if self._process is not None and self._paused:
            os.kill(self._process.pid, signal.SIGCONT)
            self._paused = False

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        self.pause()
        try:
            yield
        finally:
            self.resume()

    # --- introspection ---
    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def url(self, db: int = 5) -> str:
        return f"redis://{self.host}:{self.port}/{db}"

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join((self._dir / "redis.log").read_text().splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: The test database: never DB 0.
TEST_DB = 5


def redis_client(
    server: RedisServer,
    *,
    db: int = TEST_DB,
    timeout_s: float | None = 1.0,
    max_connections: int = 64,
    **options: object,
):
    """A ``redis.asyncio.Redis`` shaped like bootstrap's (a blocking pool, per-command
    socket timeouts); ``timeout_s=None`` leaves the socket unbounded."""
    import redis.asyncio as aioredis

    if db == 0:
        raise ValueError("tests never use DB 0")
    from adapters.outbound.redis_prepacked import PrepackingConnection

    options.setdefault("connection_class", PrepackingConnection)  # as bootstrap's
    pool = aioredis.BlockingConnectionPool(
        host=server.host, port=server.port, db=db,
        max_connections=max_connections,
        timeout=timeout_s if timeout_s is not None else 5.0,
        socket_timeout=timeout_s, socket_connect_timeout=timeout_s or 5.0,
        **options,
    )
    return aioredis.Redis(connection_pool=pool)


async def close_client(client) -> None:
    await client.aclose()
    await client.connection_pool.disconnect()
