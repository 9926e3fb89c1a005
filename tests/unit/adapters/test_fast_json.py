"""fast_json decodes every input exactly as json.loads does (orjson first, the standard
library for whatever orjson refuses); the one documented difference is integers outside
the 64-bit range, which come back as the nearest float."""
from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.outbound import fast_json

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES, st.booleans(), st.booleans())
def test_same_value_as_json_loads(value: Any, ascii_only: bool, as_bytes: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    raw: bytes | str = text.encode() if as_bytes else text
    assert fast_json.loads(raw) == json.loads(raw)


@pytest.mark.parametrize("raw", [
    b'\xef\xbb\xbf{"a": 1}',     # a UTF-8 BOM
    b'[NaN, Infinity, -Infinity]',
    b'1e400',                     # inf
    '"\\ud800"',                  # a lone surrogate escape
    b'{"a": 1, "a": 2}',         # the last duplicate wins
    b' \n{"a": [1.5, -0.0, 5e-324]}\t',
])
def test_what_orjson_refuses_or_might_read_differently_reads_as_json_loads(raw: bytes | str) -> None:
    got, want = fast_json.loads(raw), json.loads(raw)
    assert json.dumps(got) == json.dumps(want)  # NaN-safe comparison


def test_integers_beyond_64_bits_read_as_the_nearest_float() -> None:
    assert fast_json.loads(b"18446744073709551615") == 18446744073709551615
    assert fast_json.loads(b"100000000000000000000") == float(100000000000000000000)
    assert math.isclose(fast_json.loads(b"-9223372036854775809"), -9223372036854775809)


@pytest.mark.parametrize("raw", [b"", b"{", b"[1,]", b"\xff\xfe", b'{"a": 1} x', "nope"])
def test_what_json_loads_rejects_raises_value_error(raw: bytes | str) -> None:
    with pytest.raises(ValueError):
        json.loads(raw)
    with pytest.raises(ValueError):
        fast_json.loads(raw)


def test_nesting_too_deep_for_json_loads_is_a_value_error() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(RecursionError):
        json.loads(deep)
    with pytest.raises(ValueError, match="nested too deeply"):
        fast_json.loads(deep)
    assert fast_json.loads(b"[" * 500 + b"]" * 500) == json.loads(b"[" * 500 + b"]" * 500)


@pytest.mark.parametrize("codec", ["utf-16", "utf-32", "utf-16-le"])
def test_bytes_in_the_encodings_json_loads_detects(codec: str) -> None:
    assert fast_json.loads('{"a": "é"}'.encode(codec)) == {"a": "é"}
