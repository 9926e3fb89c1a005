"""JSON decoding for the hot paths: upstream bodies, real-time messages, Redis values.

orjson parses first (about 2.5× faster than ``json.loads`` on a 15 KB entitlements
state); whatever orjson refuses is parsed again by the standard library, so every input
decodes exactly as ``json.loads`` would, errors included: a UTF-8 BOM, ``NaN`` or
``Infinity``, ``1e400`` (``inf``), lone surrogates, UTF-16/32 bytes. Two differences:
an integer outside the 64-bit range comes back as the nearest float (``json.loads``:
an ``int``; the readers turn numbers into floats anyway), and a value nested too deeply
for the standard library (~1,000 levels) raises ``ValueError``, not ``RecursionError``,
so every caller treats it as the malformed input it is.
"""
from __future__ import annotations

import json
from typing import Any

import orjson


def loads(raw: bytes | bytearray | str) -> Any:
    """The JSON value in ``raw`` (bytes in any encoding ``json.loads`` detects, or text).

    Raises ``ValueError`` (``json.JSONDecodeError``, ``UnicodeDecodeError`` for bytes
    that do not decode) where ``json.loads`` would, and for nesting too deep.
    """
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            return json.loads(raw)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None
