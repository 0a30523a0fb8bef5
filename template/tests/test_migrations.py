"""Migrations and models agree, and the migrations run down and up again on a fresh database."""

from collections.abc import AsyncIterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from app.infrastructure.database import create_engine
from app.models import Base
from tests.support.database import (
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
