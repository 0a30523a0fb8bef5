"""The PostgreSQL engine: a pool of a fixed size, connections the server dropped replaced before
a request sees them (without a round trip per checkout), and reads outside a transaction.

These need a PostgreSQL server (`TEST_DATABASE_URL`); on SQLite they are reported as skipped.
"""

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from app.infrastructure.database import Database, Timeouts, create_engine, replace_dead_connections
from tests.support.database import postgres_server_url

pytestmark = pytest.mark.skipif(
    postgres_server_url() is None, reason="PostgreSQL only: set TEST_DATABASE_URL"
)

BACKEND_PID = text("SELECT pg_backend_pid()")


@pytest.fixture
async def small_engine(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """An engine of the test database with one pooled connection."""
    url = engine.url.render_as_string(hide_password=False)
    small = create_engine(url, pool_size=1, timeouts=Timeouts(pool=0.5))
    yield small
    await small.dispose()


async def terminate(engine: AsyncEngine, pid: int, driver: asyncpg.Connection) -> None:
    """End the server process of a pooled connection, and wait until its driver knows."""
    url = engine.url.render_as_string(hide_password=False)
    admin = create_async_engine(url, poolclass=NullPool)
    try:
        async with admin.connect() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await admin.dispose()
    for _ in range(1000):  # at most 10 seconds
        if driver.is_closed():
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"the driver did not see the end of server process {pid}")


async def test_the_pool_never_opens_more_than_its_size(small_engine: AsyncEngine) -> None:
    async with small_engine.connect() as held:
        await held.execute(text("SELECT 1"))
        with pytest.raises(PoolTimeout):
            async with small_engine.connect() as extra:
                await extra.execute(text("SELECT 1"))


async def test_a_connection_the_server_closed_is_replaced_before_use(
    small_engine: AsyncEngine,
) -> None:
    async with small_engine.connect() as connection:
        first = await connection.scalar(BACKEND_PID)
        driver = (await connection.get_raw_connection()).driver_connection
    assert isinstance(driver, asyncpg.Connection)
    await terminate(small_engine, first, driver)
    async with small_engine.connect() as connection:
        second = await connection.scalar(BACKEND_PID)
    assert second != first


async def test_only_a_connection_idle_for_long_is_pinged(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = engine.url.render_as_string(hide_password=False)
    pings: list[object] = []
    for idle_ping_seconds, expected in ((3600, 0), (0, 1)):
        plain = create_async_engine(url, pool_size=1, max_overflow=0)
        replace_dead_connections(plain, idle_ping_seconds=idle_ping_seconds)
        monkeypatch.setattr(plain.dialect, "do_ping", pings.append)
        pings.clear()
        try:
            for _ in range(2):  # the first checkout opens the connection: nothing to ping
                async with plain.connect() as connection:
                    await connection.execute(text("SELECT 1"))
        finally:
            await plain.dispose()
        assert len(pings) == expected, idle_ping_seconds


async def test_a_connection_that_fails_its_ping_is_replaced(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = engine.url.render_as_string(hide_password=False)
    plain = create_async_engine(url, pool_size=1, max_overflow=0)
    replace_dead_connections(plain, idle_ping_seconds=0)
    try:
        async with plain.connect() as connection:
            first = await connection.scalar(BACKEND_PID)

        def unanswered(_connection: object) -> bool:
            monkeypatch.undo()  # the new connection answers
            raise ConnectionResetError("no answer")

        monkeypatch.setattr(plain.dialect, "do_ping", unanswered)
        async with plain.connect() as connection:
            assert await connection.scalar(BACKEND_PID) != first
    finally:
        await plain.dispose()


async def in_transaction(session: AsyncSession) -> bool:
    """Whether the server has a transaction open on the session's connection."""
    await session.execute(text("SELECT 1"))
    raw = await (await session.connection()).get_raw_connection()
    driver = raw.driver_connection
    assert isinstance(driver, asyncpg.Connection)
    return driver.is_in_transaction()


async def test_reads_run_outside_a_transaction(engine: AsyncEngine) -> None:
    database = Database(engine, owns_engine=False)
    async with database.reading() as session:
        assert not await in_transaction(session)
    async with database.unit_of_work() as session:
        assert await in_transaction(session)
