"""Structured JSON logs: one object per line on stdout (configuration.md §4 "Logs").

Keys: ``time`` (ISO-8601 UTC), ``level``, ``logger``, ``message``, plus context fields
passed with ``extra=`` and ``error`` for failures. Known secret values are masked in
every value of every line as a last line of defence (field names are left alone). A
secret shorter than ``SHORT_SECRET_CHARS`` is masked only where it stands as a whole
token, so a one-letter test key does not turn "key" into "***ey".
"""
from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from datetime import datetime, timezone
from typing import Iterable

_LEVELS = {"error": logging.ERROR, "warn": logging.WARNING, "info": logging.INFO,
           "debug": logging.DEBUG}
_LEVEL_NAMES = {logging.ERROR: "error", logging.WARNING: "warn", logging.INFO: "info",
                logging.DEBUG: "debug", logging.CRITICAL: "error"}
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


#: Secrets shorter than this (characters) are masked only as whole tokens.
SHORT_SECRET_CHARS = 8
_JSON_SCALARS = (str, int, float, bool, type(None))


def _pattern(secret: str) -> re.Pattern[str]:
    if len(secret) >= SHORT_SECRET_CHARS:
        return re.compile(re.escape(secret))
    return re.compile(rf"(?<![\w-]){re.escape(secret)}(?![\w-])")


class JsonFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._patterns = [_pattern(s) for s in sorted({s for s in secrets if s}, key=len, reverse=True)]

    def _mask(self, value: object) -> object:
        """``value`` with secrets masked in every string in it (non-JSON values as ``str``)."""
        if isinstance(value, str):
            for pattern in self._patterns:
                value = pattern.sub("***", value)
            return value
        if isinstance(value, dict):
            return {key: self._mask(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._mask(item) for item in value]
        return value if isinstance(value, _JSON_SCALARS) else self._mask(str(value))

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="milliseconds"
            ).replace("+00:00", "Z"),
            "level": _LEVEL_NAMES.get(record.levelno, record.levelname.lower()),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            entry["error"] = f"{type(error).__name__}: {error}"
            entry["traceback"] = "".join(traceback.format_exception(*record.exc_info))
        return json.dumps(self._mask(entry), default=str, ensure_ascii=False)


def configure_logging(level: str, secrets: Iterable[str] = (), stream=None) -> None:
    """Route every logger to one JSON handler at ``level`` (error|warn|info|debug)."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(_LEVELS[level])
    for noisy in ("httpx", "httpcore", "websockets", "aiohttp.access", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, _LEVELS[level]))
