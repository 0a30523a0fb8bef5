"""Engine, sessions and the unit of work shared by every adapter.

SQLite (the zero-infrastructure default) and PostgreSQL run the same code. The adapters (an API
request, a script, a background job) own the transaction through `unit_of_work`; services and
repositories only flush.
"""

from collections.abc import AsyncGenerator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext import asyncio as sqlalchemy_asyncio
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

# Execution option asking SQLite to take the write lock when the transaction starts, so that
# concurrent writers queue on `busy_timeout` instead of failing to upgrade a read lock.
SQLITE_WRITE_TRANSACTION = {"sqlite_begin": "BEGIN IMMEDIATE"}
SQLITE_BUSY_TIMEOUT_MS = 10_000


@dataclass(frozen=True)
class Timeouts:
    """How long, in seconds, the service waits on its database before it gives up: a new
    connection, one statement (None: no limit, for migrations), and a free pooled connection.

    A request that hits one of them answers 503 with Retry-After (app/api/exceptions.py).
    """

    connect: float = 5.0
    statement: float | None = 10.0
    pool: float = 5.0


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, echo: bool = False, timeouts: Timeouts = Timeouts()) -> AsyncEngine:
    """An async engine with the per-backend settings the application relies on.

    `create_async_engine` is looked up when called, not imported, so that tracing libraries
    that wrap it see every engine.
    """
    create_async_engine = sqlalchemy_asyncio.create_async_engine
    if not is_sqlite(url):
        # asyncpg's own timeouts: `timeout` for connecting, `command_timeout` for each
        # statement (it cancels the statement on the server when the time is up).
        connect_args: dict[str, Any] = {"timeout": timeouts.connect}
        if timeouts.statement is not None:
            connect_args["command_timeout"] = timeouts.statement
        return create_async_engine(
            url,
            echo=echo,
            pool_pre_ping=True,
            pool_timeout=timeouts.pool,
            connect_args=connect_args,
        )

    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    # A local file never hangs; writers queue on the busy timeout (see _configure_sqlite).
    engine = create_async_engine(url, echo=echo, pool_timeout=timeouts.pool)
    _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: AsyncEngine) -> None:
    """Foreign keys on, WAL, and transactions that SQLAlchemy controls.

    pysqlite/aiosqlite otherwise begin transactions lazily and on their own terms, which breaks
    SAVEPOINT (used by nested transactions and by the test suite's per-test rollback).
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        statement = connection.get_execution_options().get("sqlite_begin", "BEGIN")
        connection.exec_driver_sql(statement)


def create_sessionmaker(
    bind: AsyncEngine | AsyncConnection,
) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded values after commit (responses are built from them)."""
    options: dict[str, Any] = {"expire_on_commit": False, "autoflush": False}
    if isinstance(bind, AsyncConnection):
        # Bound to a connection that already has a transaction (tests): commits release a
        # savepoint and the outer transaction is rolled back by its owner.
        options["join_transaction_mode"] = "create_savepoint"
    return async_sessionmaker(bind, **options)


@asynccontextmanager
async def unit_of_work(
    sessionmaker: async_sessionmaker[AsyncSession], *, write: bool = False
) -> AsyncGenerator[AsyncSession]:
    """One transaction: committed when the block succeeds, rolled back when it raises.

    `write=True` declares up front that the block writes, which lets SQLite queue concurrent
    writers instead of failing them; PostgreSQL ignores it.
    """
    async with sessionmaker() as session:
        bind = session.bind
        if write and isinstance(bind, AsyncEngine) and bind.dialect.name == "sqlite":
            await session.connection(execution_options=SQLITE_WRITE_TRANSACTION)
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


class Database:
    """The engine and session factory of one process, created in the lifespan."""

    def __init__(
        self,
        engine: AsyncEngine,
        sessionmaker: async_sessionmaker[AsyncSession] | None = None,
        *,
        owns_engine: bool = True,
    ) -> None:
        self.engine = engine
        self.sessionmaker = sessionmaker or create_sessionmaker(engine)
        self._owns_engine = owns_engine

    @classmethod
    def from_url(
        cls, url: str, *, echo: bool = False, timeouts: Timeouts = Timeouts()
    ) -> "Database":
        return cls(create_engine(url, echo=echo, timeouts=timeouts))

    def unit_of_work(self, *, write: bool = False) -> AbstractAsyncContextManager[AsyncSession]:
        return unit_of_work(self.sessionmaker, write=write)

    async def dispose(self) -> None:
        if self._owns_engine:
            await self.engine.dispose()
