"""Migrations and models agree, and the migrations run down and up again on a fresh database."""

import shutil
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from app.infrastructure import config as config_module
from app.infrastructure.config import Settings
from app.infrastructure.database import create_engine
from app.models import Base
from tests.support.database import (
    PROJECT_ROOT,
    alembic_config,
    downgrade,
    postgres_server_url,
    temporary_postgres_database,
    upgrade,
)


def schema_drift(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return compare_metadata(context, Base.metadata)


def table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) - {"alembic_version"}


@pytest.fixture
async def fresh_engine(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AsyncEngine]:
    server_url = postgres_server_url()
    if server_url is None:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('fresh') / 'db'}")
        yield engine
        await engine.dispose()
        return
    async with temporary_postgres_database(server_url) as url:
        engine = create_engine(url)
        yield engine
        await engine.dispose()


async def test_models_match_migrations(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        assert await connection.run_sync(schema_drift) == []


async def test_round_trip_upgrade_downgrade_upgrade(fresh_engine: AsyncEngine) -> None:
    async with fresh_engine.begin() as connection:
        await connection.run_sync(upgrade)
        assert await connection.run_sync(table_names) == set(Base.metadata.tables)
        await connection.run_sync(downgrade)
        assert await connection.run_sync(table_names) == set()
        await connection.run_sync(upgrade)
        assert await connection.run_sync(schema_drift) == []


REFERENCING = '''"""A table whose rows reference users."""

import sqlalchemy as sa
from alembic import op

revision = "referencing"
down_revision = {heads!r}


def upgrade() -> None:
    op.create_table(
        "referencing",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE")),
    )


def downgrade() -> None:
    op.drop_table("referencing")
'''

WIDENING = '''"""A change SQLite makes by rebuilding the users table."""

import sqlalchemy as sa
from alembic import op

revision = "widening"
down_revision = "referencing"


def upgrade() -> None:
    with op.batch_alter_table("users", recreate="always") as batch_op:
        batch_op.add_column(sa.Column("nickname", sa.String(80)))


def downgrade() -> None:
    with op.batch_alter_table("users", recreate="always") as batch_op:
        batch_op.drop_column("nickname")
'''


def test_rebuilding_a_referenced_table_keeps_the_rows_that_reference_it(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make migrate` on SQLite: a batch change to users must not cascade-delete what
    references them (foreign keys are off while migrations run, and checked before commit)."""
    database = tmp_path / "app.db"
    monkeypatch.setattr(
        config_module,
        "get_settings",
        lambda: settings.model_copy(update={"database_url": f"sqlite+aiosqlite:///{database}"}),
    )
    shutil.copytree(PROJECT_ROOT / "migrations", tmp_path / "migrations")
    versions = tmp_path / "migrations" / "versions"
    config = alembic_config()
    config.set_main_option("script_location", str(tmp_path / "migrations"))
    heads = tuple(ScriptDirectory.from_config(config).get_heads())
    (versions / "referencing.py").write_text(REFERENCING.format(heads=heads))
    command.upgrade(config, "heads")
    user = uuid.uuid4().hex
    with closing(sqlite3.connect(database)) as db, db:
        db.execute(
            "INSERT INTO users (id, email, role) VALUES (?, 'a@example.com', 'standard')", [user]
        )
        db.execute("INSERT INTO referencing (id, user_id) VALUES (1, ?)", [user])

    (versions / "widening.py").write_text(WIDENING)
    command.upgrade(config, "heads")

    with closing(sqlite3.connect(database)) as db:
        assert db.execute("SELECT user_id FROM referencing").fetchall() == [(user,)]
        assert db.execute("PRAGMA foreign_keys").fetchone() == (0,)  # a new connection's default
