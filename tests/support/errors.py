"""Status codes of failed calls, whichever client raised them."""
from __future__ import annotations

import grpc


def status_name(error: BaseException) -> str:
    """``UNAVAILABLE``, ``INVALID_ARGUMENT``, … from grpcio or grpclib errors."""
    if isinstance(error, grpc.aio.AioRpcError):
        return error.code().name
    status = getattr(error, "status", None)
    if status is not None:
        return status.name
    raise AssertionError(f"not an RPC error: {error!r}")


def status_message(error: BaseException) -> str:
    if isinstance(error, grpc.aio.AioRpcError):
        return error.details() or ""
    return getattr(error, "message", "") or ""
