"""Request builders shared by the transport tests."""
from __future__ import annotations

from sidecarpb.v1 import sidecar_pb2 as pb


def metered_request(customer: str, feature_id: str, requested: float | None = None,
                    **fallback) -> pb.GetMeteredEntitlementRequest:
    """``GetMeteredEntitlement`` with options only when something is requested or a
    fallback is given (so "options absent" stays absent on the wire)."""
    options = pb.MeteredEntitlementOptions()
    if requested is not None:
        options.requested_usage = requested
    if fallback:
        options.fallback.CopyFrom(pb.MeteredEntitlementFallback(**fallback))
    request = pb.GetMeteredEntitlementRequest(customer_id=customer, feature_id=feature_id)
    if requested is not None or fallback:
        request.options.CopyFrom(options)
    return request
