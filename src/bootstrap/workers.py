"""WORKERS=N: N sidecar processes sharing one gRPC and one HTTP port (SO_REUSEPORT).

Design (our choice): CPython runs one core per process, so N processes are the way to use
N cores. The kernel spreads new connections across the processes listening on the same
port; each worker has its own cache and its own real-time subscription (in Redis mode
they share Redis). gRPC clients keep one HTTP/2 connection, so a single client
connection sticks to one worker: spread load with several client connections (or a
client-side pool). Probes and /metrics are answered by whichever worker gets the
connection; each is a full sidecar, so readiness is per worker, and metrics carry the
view of one worker per scrape (scrape each worker's own port with WORKERS=1 pods if
per-process detail matters).

The supervisor forwards SIGTERM/SIGINT to every worker, waits for them, and exits with the
highest exit status; if a worker dies, the supervisor stops the others and exits 1 (the
orchestrator restarts the pod).
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

log = logging.getLogger("sidecar.workers")


def supervise(workers: int) -> int:
    env = dict(os.environ, WORKERS_CHILD="1")
    children = [
        subprocess.Popen([sys.executable, "-m", "bootstrap"], env=env | {"WORKER_INDEX": str(i)})
        for i in range(workers)
    ]
    log.info("workers started", extra={"workers": workers, "pids": [c.pid for c in children]})
    stopping = False

    def forward(signum, _frame) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while True:
        codes = [child.poll() for child in children]
        if all(code is not None for code in codes):
            return max(codes)
        if not stopping and any(code is not None for code in codes):
            log.error("a worker exited; stopping the others", extra={"codes": codes})
            forward(signal.SIGTERM, None)
            for child in children:
                child.wait()
            return 1
        time.sleep(0.1)
