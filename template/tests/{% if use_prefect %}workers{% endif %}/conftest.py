"""Worker fixtures: tasks on the test's transaction, flows without Prefect, Prefect's test server.

Unit tests call `flow.fn(...)` and `task.fn(...)`. A task opens its own unit of work; here it
opens it on the test's connection, so its commit only releases a savepoint and the test's
rollback still removes everything. Inside a flow, tasks are Prefect objects that need an API;
`plain_tasks` swaps them for their functions so a flow runs as plain code.

The integration tests run flows and tasks on Prefect's engine against its test server, which
starts once per session (10 to 20 seconds), in the background from the moment such a test is
collected, so the other tests run meanwhile.
"""

import importlib
import pkgutil
import threading
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


class BackgroundPrefectServer:
    """Prefect's test harness, entered in a thread as soon as the session has collected a test
    that needs it: its server starts (10 to 20 seconds) while the other tests run.

    The harness installs its settings process-wide (not only in the thread's context), so the
    tests see its API URL.
    """

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._done = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="prefect-test-server", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
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
        try:
            with temporary_settings(updates=quiet), prefect_test_harness(server_startup_timeout=90):
                self._ready.set()
                self._done.wait()
        except BaseException as error:  # reported to the test that waits for the server
            self._error = error
            self._ready.set()

    def wait(self) -> None:
        self._ready.wait()
        if self._error is not None:
            raise RuntimeError("Prefect's test server did not start") from self._error

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=60)


_server: BackgroundPrefectServer | None = None


def pytest_collection_finish(session: pytest.Session) -> None:
    global _server
    if any(item.get_closest_marker("prefect") for item in session.items):
        _server = BackgroundPrefectServer()


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """Prefect's own test server (a temporary SQLite database), for the whole session."""
    server = _server or BackgroundPrefectServer()
    server.wait()
    yield
    server.stop()
