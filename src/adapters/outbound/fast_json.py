"""JSON decoding for the hot paths: upstream bodies, real-time messages, Redis values.

orjson parses first (about 2.5× faster than ``json.loads`` on a 15 KB entitlements
state); whatever orjson refuses is parsed again by the standard library, so every input
decodes exactly as ``json.loads`` would, errors included: a UTF-8 BOM, ``NaN`` or
``Infinity``, ``1e400`` (``inf``), lone surrogates. The one difference: an integer
outside the 64-bit range comes back as the nearest float (``json.loads``: an ``int``),
and the readers turn numbers into floats anyway.
"""
from __future__ import annotations

import json
from typing import Any

import orjson


def loads(raw: bytes | bytearray | memoryview | str) -> Any:
    """The JSON value in ``raw`` (UTF-8 bytes or text).

    Raises ``ValueError`` (``json.JSONDecodeError``, or ``UnicodeDecodeError`` for bytes
    that are not UTF-8) where ``json.loads`` would.
    """
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)
