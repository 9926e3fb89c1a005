"""Command line: ``python -m stigg_emulator [--host H] [--port P] [--api-key K]
[--scenario FILE] [--port-file FILE]``.

Prints one line ``stigg-emulator listening on http://HOST:PORT`` (flushed) once
listening, optionally writes the port number to ``--port-file`` (atomically), then
serves until SIGTERM or SIGINT. Exit status 0 on a signal, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from .emulator import StiggEmulator


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m stigg_emulator",
                                     description="A loopback stand-in for Stigg's API.")
    parser.add_argument("--host", default="127.0.0.1", help="listen address")
    parser.add_argument("--port", type=int, default=0, help="listen port (0: pick one)")
    parser.add_argument("--api-key", default="test-key", help="the accepted X-API-KEY")
    parser.add_argument("--scenario", type=Path, help="snapshot JSON file to serve")
    parser.add_argument("--port-file", type=Path, help="write the bound port here")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    emulator = StiggEmulator(api_key=args.api_key, scenario=args.scenario)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await emulator.start(host=args.host, port=args.port)
    try:
        if args.port_file is not None:
            _write_atomically(args.port_file, f"{emulator.port}\n")
        sys.stdout.write(f"stigg-emulator listening on {emulator.base_url}\n")
        sys.stdout.flush()
        await stopping.wait()
    finally:
        await emulator.stop()


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def main(argv: Sequence[str] | None = None) -> int:
    asyncio.run(serve(parse_args(argv)))
    return 0
