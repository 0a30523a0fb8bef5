"""Logging configured in one place: readable lines locally, one JSON object per line in production.

The request id (and the user id once known) travel in context variables, so every log line
emitted while serving a request carries them without being passed around.
"""

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
user_id_var: ContextVar[str | None] = ContextVar("user_id", default=None)

_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class ContextFilter(logging.Filter):
    """Copies the request context onto every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.user_id = user_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and value is not None and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s%(context)s")

    def format(self, record: logging.LogRecord) -> str:
        parts = [
            f"{key}={value}"
            for key in ("request_id", "user_id")
            if (value := getattr(record, key, None)) is not None
        ]
        record.context = f" [{' '.join(parts)}]" if parts else ""
        return super().format(record)


class _AppHandler(logging.StreamHandler):
    """The handler `configure_logging` installs (so a second call replaces, not adds)."""


def configure_logging(*, level: str = "INFO", json_format: bool = False) -> None:
    """Route the root logger (and uvicorn's) through one handler with the chosen format."""
    handler = _AppHandler(sys.stdout)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if json_format else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, _AppHandler)] + [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers[:] = []
        uvicorn_logger.propagate = True
    # The request middleware writes the access log (with the request id); uvicorn's would
    # repeat every line.
    access = logging.getLogger("uvicorn.access")
    access.handlers[:] = []
    access.propagate = False
