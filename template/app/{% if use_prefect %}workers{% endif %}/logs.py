"""Worker logging: the service's format (JSON in production) with the run ids on every line.

Prefect sets up its own logging when it is imported: a console handler in its own format, and
an API handler that ships run logs to the Prefect UI. `configure_worker_logging` keeps the API
handler, replaces the console one with the service's handler, and adds the ids of the current
flow run and task run to every line, whichever logger wrote it (a run logger, a service, SQL).
"""

import logging
from typing import TextIO

import prefect.main  # noqa: F401 (Prefect sets up its logging on this import: let it happen first)
from prefect.context import FlowRunContext, TaskRunContext
from prefect.logging.handlers import PrefectConsoleHandler

from app.infrastructure.config import Settings
from app.infrastructure.logging import configure_logging

RUN_FIELDS = ("flow_run_id", "task_run_id")


class RunContextFilter(logging.Filter):
    """Adds `flow_run_id` and `task_run_id` (when inside a run) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "flow_run_id", None) is None:
            flow_run_context = FlowRunContext.get()
            flow_run = flow_run_context.flow_run if flow_run_context else None
            record.flow_run_id = str(flow_run.id) if flow_run else None
        if getattr(record, "task_run_id", None) is None:
            task_run_context = TaskRunContext.get()
            record.task_run_id = str(task_run_context.task_run.id) if task_run_context else None
        return True


def configure_worker_logging(settings: Settings, *, stream: TextIO | None = None) -> None:
    """Log like the API does, with run ids; Prefect's UI still receives the run logs."""
    configure_logging(
        level=settings.log_level,
        json_format=settings.json_logs,
        filters=[RunContextFilter()],
        context_fields=RUN_FIELDS,
        stream=stream,
    )
    for logger in (logging.getLogger(), logging.getLogger("prefect")):
        logger.handlers[:] = [
            handler for handler in logger.handlers if not isinstance(handler, PrefectConsoleHandler)
        ]
    # Prefect's loggers reach the root handler (and its format) through propagation.
    logging.getLogger("prefect").propagate = True
