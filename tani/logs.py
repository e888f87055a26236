"""Structured logs: one JSON object per line, with whatever ids the event carries.

Components only call ``logging.getLogger(__name__).info("event", extra={...})``; the ``tani``
command decides the format, so a library user may log differently.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

# Attributes every LogRecord has; anything else came from ``extra=``. uvicorn adds a copy of
# its message with terminal colour codes, useless in a log file.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


class JsonFormatter(logging.Formatter):
    """Formats a record as a single JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        """Render time, level, logger, event and the record's extra fields."""
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        entry.update(
            (key, value)
            for key, value in vars(record).items()
            if key not in _STANDARD and value is not None
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure(level: str = "INFO") -> None:
    """Send JSON lines to stderr at ``level``; quieten chatty libraries."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # pymodbus logs every failed transaction at error level; our drivers count and log them.
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    logging.getLogger("httpx").setLevel(logging.WARNING)
