"""Secrets never reach a log line, and masking never mangles the rest of it (logs.py)."""
from __future__ import annotations

import io
import json
import logging

import pytest

from bootstrap.logs import JsonFormatter

LONG = "sk-live-0123456789abcdef"


def line(secrets, message, *args, exc=None, **extra) -> dict:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(secrets))
    logger = logging.getLogger("test.masking")
    logger.handlers, logger.propagate = [handler], False
    logger.setLevel(logging.INFO)
    if exc is not None:
        try:
            raise exc
        except type(exc):
            logger.exception(message, *args, extra=extra)
    else:
        logger.info(message, *args, extra=extra)
    return json.loads(stream.getvalue())


def test_a_long_secret_is_masked_everywhere_in_values():
    entry = line([LONG], "calling with %s", LONG, exc=RuntimeError(f"bad key {LONG}"),
                 headers={"X-API-KEY": LONG}, items=[f"x{LONG}y"], obj=object())
    text = json.dumps(entry)
    assert LONG not in text
    assert entry["message"] == "calling with ***"
    assert entry["headers"] == {"X-API-KEY": "***"} and entry["items"] == ["x***y"]
    assert entry["error"] == "RuntimeError: bad key ***"


@pytest.mark.parametrize("secret", ["k", "key1"])
def test_a_short_secret_is_masked_as_a_whole_token_only(secret):
    entry = line([secret], "startup key check failed; serving from cache and fallback",
                 skipped_lines=0, idempotency_key=f"api key={secret}", value=secret)
    assert entry["message"] == "startup key check failed; serving from cache and fallback"
    assert "skipped_lines" in entry and "idempotency_key" in entry
    assert entry["idempotency_key"] == "api key=***" and entry["value"] == "***"
