"""Structured logging: stdlib logging, text for people or JSON for operators.

Log calls pass an ``event`` in ``extra`` (``log.info("sent %s", mid,
extra={"event": "mail.sent"})``); the JSON formatter puts it, and any other
extra fields, at the top level of each line.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
#: Seconds added to each record's real creation time: the injected clock's lead on the real one.
_clock_offset = 0.0


def follow_clock(now: datetime, real_now: float | None = None) -> None:
    """Stamp log lines on the injected clock (``--now``, FOLLOWUP_NOW) that reads ``now`` at this instant.

    Lines logged while a command acts "as if it were" another instant then
    say when, in that world, things happened; the clock keeps running from
    there at real speed.
    """
    global _clock_offset
    _clock_offset = now.timestamp() - (time.time() if real_now is None else real_now)


def reset_clock() -> None:
    """Back to the real clock."""
    global _clock_offset
    _clock_offset = 0.0


def record_time(record: logging.LogRecord) -> float:
    """The record's creation time on the injected clock."""
    return record.created + _clock_offset


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record_time(record), UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value if isinstance(value, str | int | float | bool | None) else str(value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime(datefmt or self.default_time_format, time.localtime(record_time(record)))


def configure_logging(fmt: str = "text", level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # APScheduler is chatty at INFO about every job run; keep its warnings.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
