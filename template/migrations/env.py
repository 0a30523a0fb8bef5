"""Alembic environment: async engine, URL from the application settings, SQLite batch mode.

Run through the CLI (`make migrate`), it opens its own connection. The test suite passes an
open connection in `config.attributes["connection"]` instead, so migrations run inside the
test's event loop.
"""

import asyncio
import logging.config
from typing import Literal

from alembic import context
from sqlalchemy import DefaultClause
from sqlalchemy.engine import Connection
from sqlalchemy.sql import functions

from app.domains.base.models import UTCDateTime
from app.infrastructure.config import get_settings
from app.infrastructure.database import create_engine
from app.models import Base

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _render_item(type_: str, obj: object, autogen_context: object) -> str | Literal[False]:
    """Write model-only column types as the plain SQLAlchemy type they store, and `func.now()`
    defaults as `sa.func.now()`: compiled for the connected database, they would read
    `now()` (PostgreSQL only) or `CURRENT_TIMESTAMP`."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if (
        type_ == "server_default"
        and isinstance(obj, DefaultClause)
        and isinstance(obj.arg, functions.now)
    ):
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
        context.run_migrations()


async def run_migrations_online() -> None:
    engine = create_engine(get_settings().database_url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_migrations_on)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    _configure(url=get_settings().database_url)
    with context.begin_transaction():
        context.run_migrations()
elif (connection := config.attributes.get("connection")) is not None:
    run_migrations_on(connection)
else:
    asyncio.run(run_migrations_online())
