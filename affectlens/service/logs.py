"""Logging for the service and its workers: readable text, or JSON lines for log collectors.

JSON lines carry ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``process``, ``message``, any
``camera_id`` passed in ``extra``, and ``error`` with the traceback when there is one.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

LOG_FORMATS = ("text", "json")
_EXTRA_FIELDS = ("camera_id", "event_id", "kind")


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "process": record.processName,
            "message": record.getMessage(),
        }
        line |= {k: getattr(record, k) for k in _EXTRA_FIELDS if hasattr(record, k)}
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def setup_logging(fmt: str = "text", level: str = "INFO") -> None:
    """Replace the root logger's handlers with one on stderr in ``fmt``."""
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {fmt!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines() if fmt == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
