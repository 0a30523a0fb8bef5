"""Two admins demoting or deleting each other at once: one wins and one admin is left, as when
the requests come one after the other; never a 5xx, never a service without admins.

These requests really commit (each on its own connection), so this module's fixtures commit
what they write, and the users are removed afterwards. The race exists on PostgreSQL; SQLite
runs one writing transaction at a time, and a request's begins before its caller is looked
up, so there the test checks the outcome only.
"""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.domains.base.authorization import Role
from app.domains.users.factory import UserFactory
from app.domains.users.models import User
from app.infrastructure.database import Database, create_sessionmaker
from tests.conftest import AuthHeaders, Serve

DOMAIN = "@admins.example.com"


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """Replaces the per-test transaction for this module: the served app must see the users."""
    async with create_sessionmaker(engine)() as session:
        yield session
        await session.rollback()
        await session.execute(delete(User).where(User.email.endswith(DOMAIN)))
        await session.commit()


@pytest.mark.parametrize("change", ["demote", "delete"])
async def test_two_admins_acting_on_each_other_at_once_leave_one_admin(
    session: AsyncSession, engine: AsyncEngine, serve: Serve, auth_headers: AuthHeaders, change: str
) -> None:
    first = await UserFactory.create(session, email=f"first{DOMAIN}", role=Role.ADMIN)
    second = await UserFactory.create(session, email=f"second{DOMAIN}", role=Role.ADMIN)
    headers = {first.id: await auth_headers(first), second.id: await auth_headers(second)}
    await session.commit()

    async def act(client: httpx.AsyncClient, actor: User, target: User) -> httpx.Response:
        path, credential = f"/api/v1/users/{target.id}", headers[actor.id]
        if change == "demote":
            return await client.patch(path, headers=credential, json={"role": "standard"})
        return await client.delete(path, headers=credential)

    async with serve(Database(engine, owns_engine=False)) as client:
        for credential in headers.values():  # each known as an admin, as busy callers are
            assert (await client.get("/api/v1/me", headers=credential)).json()["role"] == "admin"
        responses = await asyncio.gather(act(client, first, second), act(client, second, first))
    statuses = sorted(response.status_code for response in responses)
    # The loser is no admin any more (403), or cannot see the other (404), or is gone (401).
    assert statuses[0] in (200, 204), [response.text for response in responses]
    assert statuses[1] in (401, 403, 404), [response.text for response in responses]
    left = select(User.role).where(User.email.endswith(DOMAIN))
    assert list(await session.scalars(left)).count(Role.ADMIN) == 1
