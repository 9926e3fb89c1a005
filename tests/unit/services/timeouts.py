"""Budgets the service tests configure, in seconds (ENTITLEMENTS_TIMEOUT_MS, API_TIMEOUT_MS)."""

READ_TIMEOUT_S = 0.3
WRITE_TIMEOUT_S = 5.0
