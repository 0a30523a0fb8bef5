"""Test databases: a SQLite file by default, a throwaway PostgreSQL database with
`TEST_DATABASE_URL`, and the migrations that build their schema.

`TEST_DATABASE_URL` names a server and a database to connect to (for example
`postgresql+asyncpg://postgres:postgres@localhost:5432/postgres`); each test session creates
its own database next to it (the role needs CREATEDB) and drops it at the end, so sessions can
run side by side and nothing is left behind.

`statements` records what a block of a test sends to the database (to count its statements).
"""

import os
import shutil
import textwrap
import uuid
from collections.abc import AsyncGenerator, Generator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def postgres_server_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL", "").strip()
    if not url:
        return None
    if url.startswith(("postgres://", "postgresql://")):
        url = "postgresql+asyncpg://" + url.split("://", 1)[1]
    return url


@asynccontextmanager
async def temporary_postgres_database(server_url: str) -> AsyncGenerator[str]:
    """A new, empty database on the server of `server_url`; dropped on exit."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
        finally:
            async with admin.connect() as connection:
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config(PROJECT_ROOT / "alembic.ini")
    config.attributes["configure_logger"] = False
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(connection: Connection, revision: str = "heads") -> None:
    command.upgrade(alembic_config(connection), revision)


def downgrade(connection: Connection, revision: str = "base") -> None:
    command.downgrade(alembic_config(connection), revision)


REVISION = """\"\"\"{revision}\"\"\"

import sqlalchemy as sa
from alembic import op

revision = {revision!r}
down_revision = {down_revision!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
{upgrade}


def downgrade() -> None:
{downgrade}
"""


def migrations_copy(directory: Path) -> Config:
    """The project's Alembic configuration on a copy of migrations/ in `directory`: a test adds
    revisions there, and the project's own never change."""
    shutil.copytree(
        PROJECT_ROOT / "migrations",
        directory / "migrations",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    config = alembic_config()
    config.set_main_option("script_location", str(directory / "migrations"))
    return config


def heads(config: Config) -> tuple[str, ...]:
    return tuple(ScriptDirectory.from_config(config).get_heads())


def add_revision(
    config: Config,
    revision: str,
    down_revision: str | tuple[str, ...],
    *,
    upgrade: str = "pass",
    downgrade: str = "pass",
) -> None:
    """Write a revision into the copy's versions/ (`upgrade` and `downgrade` are their bodies)."""
    versions = Path(config.get_main_option("script_location") or "", "versions")
    text = REVISION.format(
        revision=revision,
        down_revision=down_revision,
        upgrade=textwrap.indent(textwrap.dedent(upgrade).strip(), "    "),
        downgrade=textwrap.indent(textwrap.dedent(downgrade).strip(), "    "),
    )
    (versions / f"{revision}.py").write_text(text)


@contextmanager
def statements(connection: AsyncConnection) -> Generator[list[tuple[str, Any]]]:
    """Every statement sent to the database in the block, with its parameters."""
    issued: list[tuple[str, Any]] = []

    def record(*args: Any) -> None:
        issued.append((args[2], args[3]))

    event.listen(connection.sync_engine, "before_cursor_execute", record)
    try:
        yield issued
    finally:
        event.remove(connection.sync_engine, "before_cursor_execute", record)
