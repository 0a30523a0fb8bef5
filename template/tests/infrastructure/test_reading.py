"""Reads outside a unit of work (`Database.reading`): a change made through them is refused,
so it is neither committed on its own nor silently dropped."""

import pytest
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.sql import Executable

from app.domains.users.factory import UserFactory
from app.domains.users.models import User
from app.infrastructure.database import Database, WriteWhileReading, create_sessionmaker


@pytest.fixture
def database(engine: AsyncEngine, connection: AsyncConnection) -> Database:
    """The test's database, its sessions inside the test's transaction."""
    return Database(engine, create_sessionmaker(connection), owns_engine=False)


async def count_users(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(User)) or 0


async def test_a_reading_session_sees_committed_rows(
    database: Database, session: AsyncSession
) -> None:
    user = await UserFactory.create(session)
    async with database.reading() as reading:
        found = await reading.get(User, user.id)
    assert found is not None
    assert found.email == user.email


@pytest.mark.parametrize(
    ("kind", "statement"),
    [
        ("INSERT", insert(User).values(email="new@example.com", role="standard")),
        ("UPDATE", update(User).values(email="changed@example.com")),
        ("DELETE", delete(User)),
    ],
    ids=["insert", "update", "delete"],
)
async def test_write_statements_are_refused(
    database: Database, session: AsyncSession, kind: str, statement: Executable
) -> None:
    await UserFactory.create(session, email="kept@example.com")
    before = await count_users(session)

    async def run_it() -> None:
        async with database.reading() as reading:
            await reading.execute(statement)

    with pytest.raises(WriteWhileReading, match=f"^{kind} in a session for reads"):
        await run_it()
    assert await count_users(session) == before
    emails = set(await session.scalars(select(User.email)))
    assert "kept@example.com" in emails
    assert not emails & {"new@example.com", "changed@example.com"}


async def test_a_flush_is_refused(database: Database, session: AsyncSession) -> None:
    async def add_a_user() -> None:
        async with database.reading() as reading:
            reading.add(UserFactory.build())
            await reading.flush()

    before = await count_users(session)
    with pytest.raises(WriteWhileReading, match="a flush in a session for reads"):
        await add_a_user()
    assert await count_users(session) == before


async def test_changes_left_in_a_reading_session_are_refused_not_dropped(
    database: Database, session: AsyncSession
) -> None:
    user = await UserFactory.create(session)

    async def change_the_email() -> None:
        async with database.reading() as reading:
            loaded = await reading.get(User, user.id)
            assert loaded is not None
            loaded.email = "changed@example.com"

    with pytest.raises(WriteWhileReading, match="are not saved"):
        await change_the_email()
