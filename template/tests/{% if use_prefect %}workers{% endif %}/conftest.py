"""Worker fixtures: tasks on the test's transaction, flows without Prefect, Prefect's test server.

Unit tests call `flow.fn(...)` and `task.fn(...)`. A task opens its own unit of work; here it
opens it on the test's connection, so its commit only releases a savepoint and the test's
rollback still removes everything. Inside a flow, tasks are Prefect objects that need an API;
`plain_tasks` swaps them for their functions so a flow runs as plain code.

The integration tests run flows and tasks on Prefect's engine against its test server, which
starts once per session (10 to 20 seconds), in the background from the moment such a test is
collected, so the other tests run meanwhile. Most of that start is migrating a new database: the
first run keeps a copy of the migrated database in pytest's cache, one per Prefect version, and
later runs start from it (`pytest --cache-clear` drops it).
"""

import contextlib
import importlib
import os
import pkgutil
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import prefect
import pytest
from prefect import Task
from prefect.context import _temporary_global_settings_context as _global_settings
from prefect.context import get_settings_context
from prefect.logging.handlers import APILogWorker
from prefect.settings import (
    PREFECT_API_SSL_CERT_FILE,
    PREFECT_API_URL,
    PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW,
    temporary_settings,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

import app.workers.flows
from app.infrastructure.database import Database, create_sessionmaker
from tests.support.prefect import one_certificate_bundle, unreachable_api_url


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
    """A Prefect server on a temporary SQLite database, in a process of its own (Prefect's
    documented `prefect server start`), started as soon as the session has collected a test
    that needs it: it starts (10 to 20 seconds) while the other tests run. (Prefect's
    `prefect_test_harness` starts the same server, but first imports the server's code into
    this process, which then runs no test for seconds.)
    """

    def __init__(self, kept: Path | None = None) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="prefect-test-"))
        self.api_url = unreachable_api_url()  # until the server starts there
        self._log = self.directory / "server.log"
        self._database = self.directory / "prefect.db"
        # A migrated database kept by an earlier run; otherwise this one keeps its own.
        self._started_from = self._keep_as = None
        if kept is not None:
            try:
                shutil.copyfile(kept, self._database)
            except OSError:
                self._keep_as = kept
            else:
                self._started_from = kept
        env = {**os.environ, "PREFECT_HOME": str(self.directory)}
        env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = f"sqlite+aiosqlite:///{self._database}"
        command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
        command += ["--port", str(urlsplit(self.api_url).port), "--no-services", "--no-ui"]
        command += ["--analytics-off"]
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(  # noqa: S603 (this interpreter, fixed arguments)
                command,
                cwd=self.directory,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped with its children
            )

    def wait(self, timeout: float = 90) -> None:
        """Wait until the server answers its health check; fail with its output otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.api_url}/health", timeout=1).status_code == 200:
                    self._keep()
                    return
            time.sleep(0.1)
        output = self._log.read_text(errors="replace")[-3000:]
        self.stop()
        if self._started_from is not None:
            output += f"\n(started from {self._started_from}: `pytest --cache-clear` drops it)"
        raise RuntimeError(f"Prefect's test server did not start:\n{output}")

    def _keep(self) -> None:
        """Copy the database, migrated and not yet used by a test, for the next runs. SQLite's
        backup reads a consistent state while the server has the file open; the copy replaces
        the kept file in one step, so a reader never sees half of it."""
        if self._keep_as is None:
            return
        partial = self._keep_as.with_name(f"{self._keep_as.name}.{os.getpid()}")
        try:
            with (
                contextlib.closing(sqlite3.connect(self._database)) as source,
                contextlib.closing(sqlite3.connect(partial)) as copy,
            ):
                source.backup(copy)
            partial.replace(self._keep_as)
            for other in self._keep_as.parent.glob("prefect-*.db"):  # earlier Prefect versions
                if other != self._keep_as:
                    other.unlink(missing_ok=True)
        except (OSError, sqlite3.Error):
            partial.unlink(missing_ok=True)  # only a cache: the next run migrates again

    def stop(self) -> None:
        if self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


_server: BackgroundPrefectServer | None = None


def kept_database(config: pytest.Config) -> Path | None:
    """Where the migrated database of this Prefect version is kept; None without pytest's
    cache (`-p no:cacheprovider`)."""
    cache = getattr(config, "cache", None)
    if cache is None:
        return None
    return cache.mkdir("prefect-database") / f"prefect-{prefect.__version__}.db"


def pytest_collection_finish(session: pytest.Session) -> None:
    global _server
    if any(item.get_closest_marker("prefect") for item in session.items):
        _server = BackgroundPrefectServer(kept_database(session.config))


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _server is not None:  # also when the session ends before a test needed it
        _server.stop()


@pytest.fixture(scope="session")
def prefect_server(pytestconfig: pytest.Config) -> Iterator[None]:
    """Prefect's server (a temporary SQLite database) for the whole session, and Prefect's
    settings pointing at it in every thread of this process, as `prefect_test_harness` does."""
    server = _server or BackgroundPrefectServer(kept_database(pytestconfig))
    try:
        server.wait()
        updates: dict[Any, Any] = {
            PREFECT_API_URL: server.api_url,
            PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW: "ignore",  # tasks run outside flows here
            PREFECT_API_SSL_CERT_FILE: str(one_certificate_bundle(server.directory / "ca.pem")),
        }
        # The second context reads the settings the first has just installed.
        with temporary_settings(updates=updates), _global_settings(get_settings_context()):
            yield
            APILogWorker.drain_all(timeout=10)  # the runs' logs reach the server first
    finally:
        server.stop()
