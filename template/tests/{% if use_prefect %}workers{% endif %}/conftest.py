"""Worker fixtures: tasks on the test's transaction, flows without Prefect, Prefect's test server.

Unit tests call `flow.fn(...)` and `task.fn(...)`. A task opens its own unit of work; here it
opens it on the test's connection, so its commit only releases a savepoint and the test's
rollback still removes everything. Inside a flow, tasks are Prefect objects that need an API;
`plain_tasks` swaps them for their functions so a flow runs as plain code.

The integration tests run flows and tasks on Prefect's engine against its test server, which
starts once per session (10 to 20 seconds) and only when one of them runs.
"""

import importlib
import pkgutil
from collections.abc import Iterator
from typing import Any

import pytest
from prefect import Task
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

import app.workers.flows
from app.infrastructure.database import Database, create_sessionmaker


@pytest.fixture
def worker_database(
    monkeypatch: pytest.MonkeyPatch, engine: AsyncEngine, connection: AsyncConnection
) -> Database:
    """The database tasks open: the test's connection, rolled back after the test."""
    database = Database(engine, create_sessionmaker(connection), owns_engine=False)
    monkeypatch.setattr("app.workers.runtime.open_database", lambda: database)
    return database


@pytest.fixture
def plain_tasks(monkeypatch: pytest.MonkeyPatch, worker_database: Database) -> None:
    """Flows call their tasks' functions directly, without Prefect's engine or API."""
    for info in pkgutil.iter_modules(app.workers.flows.__path__):
        module = importlib.import_module(f"app.workers.flows.{info.name}")
        for name, value in vars(module).items():
            if isinstance(value, Task):
                monkeypatch.setattr(module, name, value.fn)


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """Prefect's own test server (a temporary SQLite database), for the whole session."""
    from prefect.settings import (
        PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW,
        PREFECT_SERVER_ANALYTICS_ENABLED,
        temporary_settings,
    )
    from prefect.testing.utilities import prefect_test_harness

    quiet: dict[Any, Any] = {
        PREFECT_SERVER_ANALYTICS_ENABLED: False,  # no network calls from a test
        PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW: "ignore",  # tasks run outside flows here
    }
    with temporary_settings(updates=quiet), prefect_test_harness():
        yield
