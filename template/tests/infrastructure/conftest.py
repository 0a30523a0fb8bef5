"""The log output as production writes it, for the tests that check what reaches the logs."""

import io
import logging
from collections.abc import Iterator

import pytest

from app.infrastructure.logging import ContextFilter, JsonFormatter


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
