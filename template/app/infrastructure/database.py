"""Engine, sessions and the unit of work shared by every adapter.

SQLite (the zero-infrastructure default) and PostgreSQL run the same code. The adapters (an API
request, a script, a background job) own the transaction through `unit_of_work`; services and
repositories only flush. Reads that change nothing (a `GET`, finding a request's caller) use
`Database.reading`, which needs no transaction and refuses to write.
"""

import time
from collections.abc import AsyncGenerator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sqlalchemy_exc
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext import asyncio as sqlalchemy_asyncio
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

# Execution option asking SQLite to take the write lock when the transaction starts, so that
# concurrent writers queue on `busy_timeout` instead of failing to upgrade a read lock.
SQLITE_WRITE_TRANSACTION = {"sqlite_begin": "BEGIN IMMEDIATE"}
SQLITE_BUSY_TIMEOUT_MS = 10_000
# A pooled PostgreSQL connection idle for longer than this is pinged before it is used.
IDLE_PING_SECONDS = 30.0
# Connections one process keeps open to PostgreSQL (DATABASE_POOL_SIZE).
DEFAULT_POOL_SIZE = 20


# What a database that does not answer, refuses connections or runs out of pooled connections
# raises, driver errors included.
UNAVAILABLE_ERRORS = (
    sqlalchemy_exc.OperationalError,
    sqlalchemy_exc.InterfaceError,
    sqlalchemy_exc.TimeoutError,
    TimeoutError,
    OSError,
)
# The SQLSTATEs of a server that went away or turns connections away, which the driver may
# raise as a plain DBAPIError: a connection exception (class 08), the server shutting down,
# crashed or starting up (57P01-57P03: a restart, or a backend terminated by an
# administrator), and too many connections (53300).
UNAVAILABLE_STATES = ("08", "57P01", "57P02", "57P03", "53300")


def is_unavailable(error: BaseException) -> bool:
    """Whether `error` says the database is out of reach for now (down, restarting, full, the
    connection lost), rather than that a statement or its data is wrong: trying again later
    may succeed (a request answers 503, a background task is retried)."""
    if isinstance(error, UNAVAILABLE_ERRORS):
        return True
    if not isinstance(error, sqlalchemy_exc.DBAPIError):
        return False
    state = getattr(error.orig, "sqlstate", None)
    return error.connection_invalidated or (
        isinstance(state, str) and state.startswith(UNAVAILABLE_STATES)
    )


# The violations a concurrent write causes, which a domain answers as a conflict: unique
# (23505, a primary key's too) and foreign key (23503) on PostgreSQL; SQLite's names for them.
CONFLICT_STATES = ("23505", "23503")
SQLITE_CONFLICTS = (
    "SQLITE_CONSTRAINT_UNIQUE",
    "SQLITE_CONSTRAINT_PRIMARYKEY",
    "SQLITE_CONSTRAINT_FOREIGNKEY",
)


def is_conflict(error: sqlalchemy_exc.IntegrityError) -> bool:
    """Whether `error` is a unique or foreign-key violation (another request's write got there
    first), rather than a NOT NULL or CHECK violation (a bug, or a schema the code does not
    know)."""
    state = getattr(error.orig, "sqlstate", None)
    if isinstance(state, str):
        return state in CONFLICT_STATES
    return getattr(error.orig, "sqlite_errorname", None) in SQLITE_CONFLICTS


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


def create_engine(
    url: str,
    *,
    echo: bool = False,
    timeouts: Timeouts = Timeouts(),
    pool_size: int = DEFAULT_POOL_SIZE,
) -> AsyncEngine:
    """An async engine with the per-backend settings the application relies on.

    On PostgreSQL the pool holds `pool_size` connections and no more: a request that finds
    them all busy waits up to `timeouts.pool` for one, rather than opening a connection that
    would be closed again as soon as it is returned (under load, a new connection per request).

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
        engine = create_async_engine(
            url,
            echo=echo,
            pool_size=pool_size,
            max_overflow=0,
            pool_timeout=timeouts.pool,
            connect_args=connect_args,
        )
        replace_dead_connections(engine)
        return engine

    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    # A local file never hangs; writers queue on the busy timeout (see _configure_sqlite).
    engine = create_async_engine(url, echo=echo, pool_timeout=timeouts.pool)
    _configure_sqlite(engine)
    return engine


def replace_dead_connections(
    engine: AsyncEngine, *, idle_ping_seconds: float = IDLE_PING_SECONDS
) -> None:
    """Never hand out a pooled connection the server has dropped, at the least cost per request.

    A connection the server closed (a restart, `pg_terminate_backend`, an idle timeout) is
    known to the driver at once, so checking it costs no round trip; one idle for longer than
    `idle_ping_seconds` may have been cut silently on the way (a firewall, a NAT) and is pinged
    first. Either way the pool replaces it with a new connection before the request sees it.
    SQLAlchemy's `pool_pre_ping` would instead cost every checkout a round trip (three
    statements on asyncpg). A connection that dies while in use fails its statement, and the
    pool then replaces every connection opened before the failure.
    """

    @event.listens_for(engine.sync_engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        is_closed = getattr(dbapi_connection.driver_connection, "is_closed", None)
        if is_closed is not None and is_closed():
            raise DisconnectionError("the server closed this pooled connection")
        idle_since = record.info.get("idle_since")
        if idle_since is not None and time.monotonic() - idle_since > idle_ping_seconds:
            try:
                engine.dialect.do_ping(dbapi_connection)
            except Exception as error:
                raise DisconnectionError("a pooled connection did not answer a ping") from error


def _unicode_lower(value: Any) -> Any:
    """SQL `lower()` as PostgreSQL's: every letter, not only ASCII ones (SQLite's own)."""
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, bytes):
        return value.decode(errors="replace").lower()
    return value if value is None else str(value).lower()


def _configure_sqlite(engine: AsyncEngine) -> None:
    """Foreign keys on, WAL, transactions that SQLAlchemy controls, and a `lower()` that knows
    every letter.

    pysqlite/aiosqlite otherwise begin transactions lazily and on their own terms, which breaks
    SAVEPOINT (used by nested transactions and by the test suite's per-test rollback).
    Case-insensitive matches (`icontains`, `ilike`) compile to `lower()` on SQLite, whose own
    changes only ASCII letters: "é" would not find "É" as it does on PostgreSQL.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)
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


class WriteWhileReading(RuntimeError):
    """A change made through a session of `Database.reading`: it would not be saved."""


_WRITE_IN_A_UNIT_OF_WORK = (
    "write inside a unit of work (a POST, PUT, PATCH or DELETE route, or Database.unit_of_work)"
)


class ReadingSession(Session):
    """A session that refuses to write (see `Database.reading`)."""


@event.listens_for(ReadingSession, "do_orm_execute")
def _refuse_write_statements(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        kind = state.statement.__visit_name__.upper()
        raise WriteWhileReading(f"{kind} in a session for reads: {_WRITE_IN_A_UNIT_OF_WORK}")


@event.listens_for(ReadingSession, "before_flush")
def _refuse_flush(session: Session, context: UOWTransaction, instances: object) -> None:
    raise WriteWhileReading(f"a flush in a session for reads: {_WRITE_IN_A_UNIT_OF_WORK}")


def create_sessionmaker(
    bind: AsyncEngine | AsyncConnection, *, reading: bool = False
) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded values after commit (responses are built from them);
    `reading=True`: sessions that refuse to write (`ReadingSession`)."""
    options: dict[str, Any] = {"expire_on_commit": False, "autoflush": False}
    if reading:
        options["sync_session_class"] = ReadingSession
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
        readers_bind = self.sessionmaker.kw["bind"]
        if sessionmaker is None and engine.dialect.name != "sqlite":
            # PostgreSQL runs a lone statement as its own transaction: no BEGIN and COMMIT.
            readers_bind = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._readers = create_sessionmaker(readers_bind, reading=True)
        self._owns_engine = owns_engine

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        echo: bool = False,
        timeouts: Timeouts = Timeouts(),
        pool_size: int = DEFAULT_POOL_SIZE,
    ) -> "Database":
        return cls(create_engine(url, echo=echo, timeouts=timeouts, pool_size=pool_size))

    def unit_of_work(self, *, write: bool = False) -> AbstractAsyncContextManager[AsyncSession]:
        return unit_of_work(self.sessionmaker, write=write)

    @asynccontextmanager
    async def reading(self) -> AsyncGenerator[AsyncSession]:
        """A session for reads outside any unit of work: the requests that change nothing (GET,
        HEAD, OPTIONS) and finding the caller of a credential.

        On PostgreSQL each statement runs as its own transaction, without a BEGIN and a COMMIT
        around it (one round trip instead of three); each sees the rows committed before it
        began, as each statement of a READ COMMITTED transaction (PostgreSQL's default) does.
        It refuses to write: an INSERT, UPDATE or DELETE, a flush, or changes left in it when
        the block ends raise `WriteWhileReading` instead of being committed or lost.
        """
        async with self._readers() as session:
            yield session
            if session.new or session.dirty or session.deleted:
                raise WriteWhileReading(
                    f"changes left in a session for reads are not saved: {_WRITE_IN_A_UNIT_OF_WORK}"
                )

    # The name of earlier releases.
    lookup = reading

    async def dispose(self) -> None:
        if self._owns_engine:
            await self.engine.dispose()
