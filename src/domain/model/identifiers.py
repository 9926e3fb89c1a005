"""Identity of a cache entry: a customer, optionally narrowed to one resource."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CustomerKey:
    """(customer, resource) — the cache identity (reference: decision-rules.md §7).

    ``resource_id`` is ``None`` for the global customer. An empty resource id is the
    same as none (our choice, grpc-contract.md "Empty resource_id"); use ``of()`` to
    build keys from wire values so that rule is applied in one place.
    """

    customer_id: str
    resource_id: str | None = None

    @classmethod
    def of(cls, customer_id: str, resource_id: str | None = None) -> CustomerKey:
        """Build a key from wire values, folding ``""`` resource ids into ``None``."""
        return cls(customer_id, resource_id or None)

    @property
    def global_key(self) -> CustomerKey:
        """The customer's global key (itself when it has no resource)."""
        return self if self.resource_id is None else CustomerKey(self.customer_id)

    def __str__(self) -> str:
        """The reference cache key: ``c_<customer>`` or ``c_<customer>:r_<resource>``."""
        if self.resource_id is None:
            return f"c_{self.customer_id}"
        return f"c_{self.customer_id}:r_{self.resource_id}"
