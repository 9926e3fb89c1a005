"""Entry points: ``stigg-sidecar`` and ``python -m bootstrap``.

Exit codes: 0 after a clean shutdown, 2 for invalid configuration (nothing was bound),
1 for a failure while starting.
"""
from __future__ import annotations

import logging
import os
import sys

from bootstrap import event_loop, grpc_runtime
from bootstrap.logs import configure_logging
from bootstrap.settings import ConfigurationError, load_sidecar_settings


def sidecar_main() -> int:
    try:
        settings, fallbacks, warnings = load_sidecar_settings()
    except ConfigurationError as error:
        for line in error.lines:
            print(line, file=sys.stderr)
        return 2
    secrets = [
        secret.get_secret_value()
        for secret in (settings.server_api_key, settings.redis_password)
        if secret is not None
    ]
    configure_logging(settings.log_level, secrets)
    log = logging.getLogger("sidecar")
    for warning in warnings:
        log.warning(warning)
    grpc_runtime.prepare()  # before grpc is imported (below), inherited by workers
    if settings.workers > 1 and not os.environ.get("WORKERS_CHILD"):
        from bootstrap.workers import supervise

        return supervise(settings.workers)
    from bootstrap.app import SidecarApp  # after logging: importing grpc may log

    app = SidecarApp(settings, fallbacks)
    try:
        event_loop.run(app.run_until_signalled(), settings.event_loop)
    except OSError as error:
        log.error("could not start", extra={"error": str(error)})
        print(f"could not start: {error}", file=sys.stderr)
        return 1
    return 0


def persistent_cache_main() -> int:
    """``stigg-persistent-cache``: same exit codes as the sidecar."""
    from bootstrap.settings import load_persistent_cache_settings

    try:
        settings, warnings = load_persistent_cache_settings()
    except ConfigurationError as error:
        for line in error.lines:
            print(line, file=sys.stderr)
        return 2
    secrets = [s.get_secret_value() for s in (settings.server_api_key, settings.redis_password) if s]
    configure_logging(settings.log_level, secrets)
    from bootstrap.pcs_app import PersistentCacheApp

    try:
        event_loop.run(PersistentCacheApp(settings).run_until_signalled(), settings.event_loop)
    except OSError as error:
        logging.getLogger("persistent_cache").error("could not start", extra={"error": str(error)})
        print(f"could not start: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(sidecar_main())
