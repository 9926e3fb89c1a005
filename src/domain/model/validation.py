"""Syntax-level checks shared by every use case (field names as on the wire)."""
from __future__ import annotations

import math

from domain.model.errors import InvalidRequestError

#: Longest id accepted, in characters (our choice: real ids are far shorter; a
#: 10 KB id is a bug or an attack and must not reach cache keys or upstream URLs).
MAX_ID_LENGTH = 1024


def id_problem(value: str | None, *, required: bool) -> str | None:
    """Why an id is unusable, or ``None`` when it is fine."""
    if not value:
        return "must not be empty" if required else None
    if len(value) > MAX_ID_LENGTH:
        return f"must be at most {MAX_ID_LENGTH} characters"
    return None


def require_id(field: str, value: str | None, *, required: bool = True) -> None:
    """Raise ``InvalidRequestError`` naming ``field`` if the id is unusable."""
    problem = id_problem(value, required=required)
    if problem is not None:
        raise InvalidRequestError(field, problem)


def require_finite(field: str, value: float) -> None:
    if math.isnan(value) or math.isinf(value):
        raise InvalidRequestError(field, "must be a finite number")
