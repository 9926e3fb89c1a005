"""Estimated memory cost of a cached entitlement set, in bytes.

reference: caching-and-redis.md §2.1 — the bound applies to real memory, estimated as
the entry's JSON length times an overhead factor. The JSON length is itself estimated
structurally (no serialisation on the write path): a fixed cost per entitlement plus
the length of its strings.
"""
from __future__ import annotations

from domain.model.entitlement import EntitlementSet

#: JSON bytes of one entitlement's fixed fields (keys, numbers, flags), measured on the
#: reference value format; strings are added by length.
JSON_BYTES_PER_FEATURE = 420
JSON_BYTES_PER_CREDIT = 260
JSON_BYTES_PER_SET = 120
#: Resident bytes per estimated JSON byte. Calibrated by bench/memory.py (100,000 customers
#: × 20 entitlements: real RSS growth vs. this estimate, docs/performance.md); with 1.62 a
#: 128 MiB bound held 130 MiB of real memory (1.02×).
OVERHEAD_FACTOR = 1.62


def estimate_json_bytes(entitlements: EntitlementSet) -> int:
    total = JSON_BYTES_PER_SET + len(entitlements.key.customer_id) + len(
        entitlements.key.resource_id or ""
    )
    for e in entitlements.features:
        f = e.feature
        total += JSON_BYTES_PER_FEATURE + len(f.id) + len(f.units or "") + len(
            f.units_plural or ""
        ) + len(f.display_name or "") + sum(len(v) + 3 for v in e.enum_values)
    for c in entitlements.credits:
        cur = c.currency
        total += JSON_BYTES_PER_CREDIT + len(cur.currency_id) + len(cur.display_name) + len(
            cur.description or ""
        )
    return total


def estimate_entry_bytes(entitlements: EntitlementSet) -> int:
    """Estimated resident bytes of one cached set (JSON estimate × overhead factor)."""
    return int(estimate_json_bytes(entitlements) * OVERHEAD_FACTOR)
