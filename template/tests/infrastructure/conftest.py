"""What these tests need to check what reaches the logs: settings with the access log on, and
the log output as production writes it."""

import io
import logging
from collections.abc import Iterator

import pytest

from app.infrastructure.config import Settings
from app.infrastructure.logging import ContextFilter, JsonFormatter


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The test settings with the access log on (the suite turns it off elsewhere), at INFO."""
    return settings.model_copy(update={"access_log": True, "log_level": "INFO"})


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Everything logged at INFO and above during the test, as production writes it (JSON),
    SQL statements and their parameters included.

    Requested first by the tests, so SQL logging is on before their database connection opens.
    """
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    sql_logger = logging.getLogger("sqlalchemy.engine")
    levels = root.level, sql_logger.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    sql_logger.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(levels[0])
    sql_logger.setLevel(levels[1])
