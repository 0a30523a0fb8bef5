"""An unavailable database degrades the service and never fails it: a request that needs the
database answers 503 problem+json with Retry-After within the configured timeouts, readiness
answers within its own, and liveness stays 200.

Two outages, without a real server: connections refused (the server is down), and a server
that accepts connections and never answers (a stuck proxy or network). On PostgreSQL, a third:
the server ends a connection in the middle of a statement (a restart, an administrator).
"""

import asyncio
import socket
import time
from collections.abc import AsyncGenerator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import exc as sqlalchemy_exc
from sqlalchemy import text

from app import models
from app.api.exceptions import install_exception_handlers
from app.api.routes import health
from app.domains.users.models import User
from app.infrastructure.database import Database, Timeouts
from tests.conftest import AuthHeaders, Serve
from tests.support.database import postgres_server_url, temporary_postgres_database

# Short, so the tests wait little; the defaults are a few seconds (DATABASE_*_TIMEOUT).
SHORT = Timeouts(connect=0.3, statement=0.3, pool=0.3)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


@pytest.fixture(params=["refused", "silent"])
def unavailable_url(request: pytest.FixtureRequest) -> str:
    port = 1 if request.param == "refused" else request.getfixturevalue("silent_port")
    return f"postgresql+asyncpg://app:app@127.0.0.1:{port}/app"


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "database_unavailable"
    assert int(response.headers["retry-after"]) >= 1


async def test_a_request_that_needs_the_database_is_503_with_retry_after(
    serve: Serve, unavailable_url: str, auth_headers: AuthHeaders, admin: User
) -> None:
    headers = await auth_headers(admin)  # a credential the service would accept
    async with serve(Database.from_url(unavailable_url, timeouts=SHORT)) as client:
        async with asyncio.timeout(10):  # bounded: a hung request fails the test here
            me = await client.get("/api/v1/me", headers=headers)
            live = await client.get("/api/v1/health/live")
    assert_unavailable(me)
    assert live.status_code == 200


async def test_readiness_answers_within_its_own_timeout(
    serve: Serve, unavailable_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health, "READY_TIMEOUT_SECONDS", 0.2)
    # Connecting may take 5 s (the default): the probe must not wait for it.
    async with serve(Database.from_url(unavailable_url)) as client:
        started = time.monotonic()
        ready = await client.get("/api/v1/health/ready")
        waited = time.monotonic() - started
    assert_unavailable(ready)
    assert waited < 3, f"the probe waited {waited:.1f} s"


@asynccontextmanager
async def database_without_migrations(directory: Path) -> AsyncGenerator[str]:
    """An empty database of the kind the tests run on: what a deploy that skipped its
    migrations serves from."""
    server_url = postgres_server_url()
    if server_url is None:
        yield f"sqlite+aiosqlite:///{directory / 'empty.db'}"
        return
    async with temporary_postgres_database(server_url) as url:
        yield url


async def test_a_database_without_the_migrations_is_503_not_migrated(
    serve: Serve, auth_headers: AuthHeaders, admin: User, tmp_path: Path
) -> None:
    headers = await auth_headers(admin)
    async with database_without_migrations(tmp_path) as url:
        database = Database.from_url(url, timeouts=SHORT)
        async with serve(database) as client:
            response = await client.get("/api/v1/users", headers=headers)
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "database_not_migrated"
    assert int(response.headers["retry-after"]) >= 1


class DriverError(Exception):
    """What a driver raises, with the SQLSTATE the server sent."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"SQLSTATE {sqlstate}")
        self.sqlstate = sqlstate


async def raised_through_the_handlers(error: Exception) -> httpx.Response:
    app = FastAPI()
    install_exception_handlers(app)

    @app.get("/statement")
    async def statement() -> None:
        raise error

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.get("/statement")


@pytest.mark.parametrize(
    "sqlstate",
    [
        "57P01",  # a backend terminated by an administrator, or a fast shutdown
        "57P02",  # the server crashed
        "57P03",  # the server is starting up or shutting down
        "08006",  # the connection failed
        "53300",  # too many connections
    ],
)
async def test_a_server_that_goes_away_is_503_whatever_the_driver_raises(sqlstate: str) -> None:
    error = sqlalchemy_exc.DBAPIError("SELECT 1", None, DriverError(sqlstate))
    assert_unavailable(await raised_through_the_handlers(error))


async def test_a_connection_the_driver_reports_dropped_is_503() -> None:
    error = sqlalchemy_exc.DBAPIError(
        "SELECT 1", None, DriverError("XX000"), connection_invalidated=True
    )
    assert_unavailable(await raised_through_the_handlers(error))


async def test_other_database_errors_are_not_disguised_as_an_outage() -> None:
    error = sqlalchemy_exc.DBAPIError("SELECT 1", None, DriverError("XX000"))
    with pytest.raises(sqlalchemy_exc.DBAPIError):
        await raised_through_the_handlers(error)


@pytest.mark.skipif(postgres_server_url() is None, reason="PostgreSQL only: set TEST_DATABASE_URL")
async def test_a_connection_ended_by_the_server_mid_statement_is_503(
    serve: Serve, auth_headers: AuthHeaders, admin: User
) -> None:
    headers = await auth_headers(admin)  # looked up in the served database, which blocks
    server_url = postgres_server_url()
    assert server_url is not None
    async with temporary_postgres_database(server_url) as url:
        database = Database.from_url(url)
        async with database.engine.begin() as connection:
            await connection.run_sync(models.Base.metadata.create_all)
        async with serve(database) as client, database.engine.connect() as locker:
            await locker.execute(text("LOCK TABLE users IN ACCESS EXCLUSIVE MODE"))
            request = asyncio.create_task(client.get("/api/v1/me", headers=headers))
            for _ in range(500):  # up to 10 s for the request to reach the lock
                # The statistics views keep one snapshot per transaction unless told.
                await locker.execute(text("SELECT pg_stat_clear_snapshot()"))
                if await locker.scalar(text(TERMINATE_THE_WAITING_BACKEND)):
                    break
                await asyncio.sleep(0.02)
            async with asyncio.timeout(10):
                response = await request
            await locker.rollback()
    assert_unavailable(response)


# What an administrator (or a restart) does to the backend of a request waiting on a lock.
TERMINATE_THE_WAITING_BACKEND = """
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock'
"""
