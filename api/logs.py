"""Logs: one JSON object a line on stderr, each tagged with the request it belongs to.

    >>> configure_logging()
    >>> logging.getLogger("api").info("request", extra={"method": "GET", "status": 200})
    {"ts": "2025-01-01T12:00:00.000Z", "level": "info", "logger": "api", "msg": "request", ...}

The request id lives in a context variable: the request middleware sets it, and because FastAPI
copies the context into its threadpool, log lines written by the pipeline during a request carry
the same id.
"""

from __future__ import annotations

import json
import logging
import logging.config
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# Attributes every LogRecord has; anything else was passed with `extra=` and goes into the line.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
_STANDARD.add("color_message")  # uvicorn's copy of msg with terminal colours


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON: ts, level, logger, msg, request_id, extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            line["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in line and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exc"] = "".join(traceback.format_exception(*record.exc_info))
        return json.dumps(line, ensure_ascii=False, default=str)


def log_config(level: str = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` for our loggers and uvicorn's (pass it as `log_config`)."""
    handler = {"handlers": ["stderr"], "level": level, "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {"api": handler, "rag": handler, "uvicorn": handler},
    }


def configure_logging(level: str = "INFO") -> None:
    logging.config.dictConfig(log_config(level))
