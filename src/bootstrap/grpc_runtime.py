"""grpc's C-core experiments for this process (``GRPC_EXPERIMENTS``), set before grpc loads.

The C core reads ``GRPC_EXPERIMENTS`` once, when ``grpc`` is first imported; a value set
later is silently ignored. So the entry points call ``prepare()`` before anything
imports grpc, and worker processes inherit the variable.

Our default turns off the ``event_engine_listener`` experiment (on by default in
grpcio 1.85): with it off, the server accepts and serves connections through the
C core's older listener, which costs ~20 % less CPU per unary call on this workload,
no-op floor and sidecar alike (measured with h2load at concurrency 64:
docs/performance.md, "gRPC listener"). An operator's own ``GRPC_EXPERIMENTS`` (even
empty) is kept as given; an unknown experiment name only makes grpc log one line.
"""
from __future__ import annotations

import os
import sys
from typing import MutableMapping

#: What ``GRPC_EXPERIMENTS`` defaults to in our processes (grpc's syntax: a comma-
#: separated list, ``-name`` turns an experiment off).
DEFAULT_GRPC_EXPERIMENTS = "-event_engine_listener"


def prepare(environ: MutableMapping[str, str] | None = None) -> str:
    """Default ``GRPC_EXPERIMENTS`` in ``environ`` (``os.environ`` by default) and return
    the value in effect.

    Raises ``RuntimeError`` if ``grpc`` is already imported in this process and the
    variable was not set before: the default would then not apply (an ordering bug in
    the caller).
    """
    environ = os.environ if environ is None else environ
    if "GRPC_EXPERIMENTS" in environ:
        return environ["GRPC_EXPERIMENTS"]
    if "grpc" in sys.modules and environ is os.environ:
        raise RuntimeError("grpc was imported before bootstrap.grpc_runtime.prepare(): "
                           "GRPC_EXPERIMENTS would have no effect")
    environ["GRPC_EXPERIMENTS"] = DEFAULT_GRPC_EXPERIMENTS
    return DEFAULT_GRPC_EXPERIMENTS
