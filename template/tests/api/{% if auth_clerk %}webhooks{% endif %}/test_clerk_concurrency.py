"""Ten concurrent duplicate deliveries of one Clerk event end with one row and no 5xx.

These requests really commit (each on its own connection), so these tests work outside the
per-test transaction and remove what they created.
"""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.api.main import create_app
from app.domains.base.authorization import Role
from app.domains.users.clerk import ClerkAccountRecord
from app.domains.users.factory import UserFactory
from app.domains.users.models import User
from app.infrastructure.config import Settings
from app.infrastructure.database import Database
from tests.support.clerk import JWKSEndpoint, deleted_payload, signed_delivery, user_payload

DUPLICATES = 10
DOMAIN = "@concurrent.example.com"
RACED = tuple(f"user_r{n}" for n in range(10))
CLERK_IDS = ("user_c1", "user_c2", "user_c3", *RACED)


@pytest.fixture
async def database(engine: AsyncEngine) -> AsyncIterator[Database]:
    database = Database(engine, owns_engine=False)
    yield database
    async with database.unit_of_work(write=True) as session:
        await session.execute(delete(User).where(User.email.endswith(DOMAIN)))
        await session.execute(
            delete(ClerkAccountRecord).where(ClerkAccountRecord.clerk_id.in_(CLERK_IDS))
        )


async def deliver_duplicates(
    database: Database, settings: Settings, jwks: JWKSEndpoint, payload: dict[str, Any]
) -> list[str]:
    """The outcomes of `DUPLICATES` concurrent deliveries of one signed message."""
    body, headers = signed_delivery(payload)
    app = create_app(settings, database=database, http_transport=jwks.transport())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            responses = await asyncio.gather(
                *(
                    client.post("/webhooks/clerk", content=body, headers=headers)
                    for _ in range(DUPLICATES)
                )
            )
    assert [response.status_code for response in responses] == [200] * DUPLICATES, [
        response.text for response in responses if response.status_code != 200
    ]
    return sorted(response.json()["outcome"] for response in responses)


async def users_with(database: Database, email: str) -> list[User]:
    async with database.unit_of_work() as session:
        return list(await session.scalars(select(User).where(User.email == email)))


async def test_duplicates_of_user_created_make_one_user(
    database: Database, settings: Settings, jwks: JWKSEndpoint
) -> None:
    email = f"new{DOMAIN}"
    outcomes = await deliver_duplicates(database, settings, jwks, user_payload("user_c1", email))
    assert outcomes == ["created"] + ["unchanged"] * (DUPLICATES - 1)
    assert [user.clerk_id for user in await users_with(database, email)] == ["user_c1"]


async def test_duplicates_linking_an_existing_user_link_it_once(
    database: Database, settings: Settings, jwks: JWKSEndpoint
) -> None:
    email = f"root{DOMAIN}"
    async with database.unit_of_work(write=True) as session:
        await UserFactory.create(session, email=email, role=Role.ADMIN)
    outcomes = await deliver_duplicates(database, settings, jwks, user_payload("user_c2", email))
    assert outcomes == ["linked"] + ["unchanged"] * (DUPLICATES - 1)
    [user] = await users_with(database, email)
    assert (user.clerk_id, user.role) == ("user_c2", Role.ADMIN)


async def test_duplicates_of_user_deleted_delete_once(
    database: Database, settings: Settings, jwks: JWKSEndpoint
) -> None:
    email = f"gone{DOMAIN}"
    async with database.unit_of_work(write=True) as session:
        await UserFactory.create(session, email=email, clerk_id="user_c3")
    outcomes = await deliver_duplicates(database, settings, jwks, deleted_payload("user_c3"))
    assert outcomes == ["deleted"] + ["ignored"] * (DUPLICATES - 1)
    assert await users_with(database, email) == []
    async with database.unit_of_work() as session:
        remembered = select(ClerkAccountRecord.clerk_id).where(
            ClerkAccountRecord.clerk_id.in_(CLERK_IDS), ClerkAccountRecord.deleted_at.is_not(None)
        )
        assert list(await session.scalars(remembered)) == ["user_c3"]


async def test_a_creation_and_a_deletion_delivered_at_once_leave_no_user(
    database: Database, settings: Settings, jwks: JWKSEndpoint
) -> None:
    app = create_app(settings, database=database, http_transport=jwks.transport())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            for clerk_id in RACED:
                deliveries = [
                    signed_delivery(user_payload(clerk_id, f"{clerk_id}{DOMAIN}")),
                    signed_delivery(deleted_payload(clerk_id)),
                ]
                responses = await asyncio.gather(
                    *(
                        client.post("/webhooks/clerk", content=body, headers=headers)
                        for body, headers in deliveries
                    )
                )
                assert [response.status_code for response in responses] == [200, 200]
    async with database.unit_of_work() as session:
        left = await session.scalars(select(User.clerk_id).where(User.clerk_id.in_(RACED)))
        assert list(left) == []
