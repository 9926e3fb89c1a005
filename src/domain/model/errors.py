"""Errors of the domain: bad requests, named by the offending field."""
from __future__ import annotations


class InvalidRequestError(ValueError):
    """A request the sidecar will not act on; ``field`` names it (e.g. ``usages[3].feature_id``).

    Inbound adapters answer it with ``INVALID_ARGUMENT`` and ``str(error)`` as the message.
    """

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}")
        self.field = field
        self.problem = problem
