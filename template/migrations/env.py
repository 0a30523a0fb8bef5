"""Alembic environment: async engine, URL from the application settings, SQLite batch mode.

On PostgreSQL, runs take turns through an advisory lock. Run through the CLI (`make migrate`),
it opens its own connection. The test suite passes an
open connection in `config.attributes["connection"]` instead, so migrations run inside the
test's event loop.
"""

import asyncio
import logging.config
from typing import Any, Literal

from alembic import context
from sqlalchemy import DefaultClause, TextClause, event, text, types
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import functions

from app.domains.base.models import UTCDateTime
from app.infrastructure.config import get_settings
from app.infrastructure.database import Timeouts, create_engine
from app.models import Base

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata

# An advisory lock key of PostgreSQL (any fixed number: such locks belong to one database), and
# how long a run waits for another before it gives up.
MIGRATION_LOCK = 7_413_001
MIGRATION_LOCK_TIMEOUT = "5min"
# The length of the CHAR that SQLite stores a Uuid in.
UUID_AS_CHAR = 32


def _render_item(type_: str, obj: object, autogen_context: object) -> str | Literal[False]:
    """Write types and defaults that serve SQLite and PostgreSQL alike.

    Model-only column types are written as the plain SQLAlchemy type they store, and
    `func.now()` defaults as `sa.func.now()`: compiled for the connected database, they would
    read `now()` (PostgreSQL only) or `CURRENT_TIMESTAMP`. A revision that drops a table
    recreates it in its `downgrade()` from what the scratch SQLite database reflects: DATETIME
    (a type PostgreSQL lacks) is written as the models' timezone-aware DateTime, CHAR(32) as the
    Uuid that SQLite stores that way (PostgreSQL's foreign keys to uuid columns need it), and
    SQLite's `(CURRENT_TIMESTAMP)` default as `sa.func.now()`.
    """
    if type_ == "type":
        if isinstance(obj, UTCDateTime | types.DATETIME | sqlite.DATETIME):
            return "sa.DateTime(timezone=True)"
        if type(obj) is types.CHAR and obj.length == UUID_AS_CHAR:
            return "sa.Uuid()"
    if type_ == "server_default" and isinstance(obj, DefaultClause):
        reflected = isinstance(obj.arg, TextClause) and obj.arg.text.strip("() ").upper()
        if isinstance(obj.arg, functions.now) or reflected == "CURRENT_TIMESTAMP":
            return "sa.func.now()"
    return False


def _configure(*, connection: Connection | None = None, url: str | None = None) -> None:
    dialect = connection.dialect.name if connection is not None else str(url).split(":", 1)[0]
    context.configure(
        connection=connection,
        url=url,
        target_metadata=target_metadata,
        render_as_batch=dialect.startswith("sqlite"),
        compare_type=True,
        compare_server_default=True,
        render_item=_render_item,
        literal_binds=connection is None,
    )


def run_migrations_on(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            _wait_for_other_runs(connection)
        context.run_migrations()


def _wait_for_other_runs(connection: Connection) -> None:
    """Take turns with any other run on this database (two `make migrate`, or the migrations
    jobs of overlapping deploys): the second waits for the first to commit, then finds nothing
    left to do, instead of failing half-way. The lock ends with the transaction."""
    connection.execute(text(f"SET LOCAL lock_timeout = '{MIGRATION_LOCK_TIMEOUT}'"))
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    connection.execute(text("SET LOCAL lock_timeout = DEFAULT"))


async def run_migrations_online() -> None:
    settings = get_settings()
    # No statement timeout: a migration may rewrite a large table. Connecting is still bounded.
    timeouts = Timeouts(connect=settings.database_connect_timeout, statement=None)
    engine = create_engine(settings.database_url, timeouts=timeouts)
    sqlite = engine.dialect.name == "sqlite"
    if sqlite:
        _foreign_keys_off(engine)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_migrations_on)
            if sqlite:
                await connection.run_sync(_check_foreign_keys)
            await connection.commit()
    finally:
        await engine.dispose()


def _foreign_keys_off(engine: AsyncEngine) -> None:
    """SQLite changes a table in batch mode: copy it, drop the original, rename the copy. With
    foreign keys on, dropping the original deletes every row that references it (ON DELETE
    CASCADE), so they are off while the migrations run, and checked before the commit."""

    @event.listens_for(engine.sync_engine, "connect")
    def _off(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=OFF")
        cursor.close()


def _check_foreign_keys(connection: Connection) -> None:
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        tables = sorted({str(row[0]) for row in broken})
        raise RuntimeError(
            f"the migrations left {len(broken)} row(s) referencing missing rows, in "
            f"{', '.join(tables)}; nothing was committed"
        )


if context.is_offline_mode():
    _configure(url=get_settings().database_url)
    with context.begin_transaction():
        context.run_migrations()
elif (connection := config.attributes.get("connection")) is not None:
    run_migrations_on(connection)
else:
    asyncio.run(run_migrations_online())
