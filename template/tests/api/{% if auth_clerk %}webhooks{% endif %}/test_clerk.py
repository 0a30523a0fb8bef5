"""POST /webhooks/clerk with real Svix signatures: user events create, link, update and delete
users; bad, stale or replayed deliveries never duplicate a row and never cause a 5xx."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from app.api.main import create_app
from app.domains.base.authorization import Role
from app.domains.users.factory import UserFactory
from app.domains.users.models import User
from app.infrastructure.config import Settings
from app.infrastructure.database import Database, create_sessionmaker
from tests.support.clerk import (
    SigningKey,
    deleted_payload,
    session_token,
    signed_delivery,
    user_payload,
)

URL = "/webhooks/clerk"


async def deliver(client: httpx.AsyncClient, payload: dict[str, Any] | str) -> httpx.Response:
    body, headers = signed_delivery(payload)
    return await client.post(URL, content=body, headers=headers)


async def outcome(client: httpx.AsyncClient, payload: dict[str, Any]) -> str:
    response = await deliver(client, payload)
    assert response.status_code == 200, response.text
    assert response.json()["type"] == payload["type"]
    return response.json()["outcome"]


async def linked_to(session: AsyncSession, clerk_id: str) -> User | None:
    statement = select(User).where(User.clerk_id == clerk_id)
    return await session.scalar(statement.execution_options(populate_existing=True))


async def count_users(session: AsyncSession, email: str) -> int:
    return await session.scalar(select(func.count()).where(User.email == email)) or 0


async def test_user_created_makes_a_standard_user_with_the_primary_email(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    assert await outcome(client, user_payload("user_new", "New.Person@Example.com")) == "created"
    user = await linked_to(session, "user_new")
    assert user is not None
    assert (user.email, user.role) == ("new.person@example.com", Role.STANDARD)


async def test_the_synced_user_signs_in_with_a_session_token(
    client: httpx.AsyncClient, signing_key: SigningKey
) -> None:
    await outcome(client, user_payload("user_new", "new@example.com"))
    token = session_token(signing_key, "user_new")
    response = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json()["email"] == "new@example.com"


async def test_a_replayed_delivery_changes_nothing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    body, headers = signed_delivery(user_payload("user_new", "new@example.com"))
    first = await client.post(URL, content=body, headers=headers)
    replay = await client.post(URL, content=body, headers=headers)
    assert (first.status_code, replay.status_code) == (200, 200)
    assert (first.json()["outcome"], replay.json()["outcome"]) == ("created", "unchanged")
    assert await count_users(session, "new@example.com") == 1


async def test_user_updated_changes_the_email_of_a_known_user(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await outcome(client, user_payload("user_new", "old@example.com"))
    updated = user_payload("user_new", "new@example.com", event="user.updated")
    assert await outcome(client, updated) == "updated"
    assert await outcome(client, updated) == "unchanged"
    user = await linked_to(session, "user_new")
    assert user is not None
    assert user.email == "new@example.com"


async def test_user_updated_for_an_unknown_user_is_acknowledged(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    updated = user_payload("user_unknown", "unknown@example.com", event="user.updated")
    assert await outcome(client, updated) == "ignored"
    assert await linked_to(session, "user_unknown") is None


async def test_user_deleted_deletes_the_user_once(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await outcome(client, user_payload("user_new", "new@example.com"))
    assert await outcome(client, deleted_payload("user_new")) == "deleted"
    assert await linked_to(session, "user_new") is None
    assert await outcome(client, deleted_payload("user_new")) == "ignored"
    assert await outcome(client, deleted_payload("user_neverseen")) == "ignored"


async def test_events_after_user_deleted_never_bring_the_user_back(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    created = user_payload("user_new", "new@example.com")
    await outcome(client, created)
    assert await outcome(client, deleted_payload("user_new")) == "deleted"
    # Clerk retries a delivery that failed before the deletion, or delivers out of order.
    assert await outcome(client, created) == "ignored"
    updated = user_payload("user_new", "new@example.com", event="user.updated")
    assert await outcome(client, updated) == "ignored"
    assert await count_users(session, "new@example.com") == 0


async def test_an_older_update_delivered_late_changes_nothing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    def updated(email: str, at: int) -> dict[str, Any]:
        return user_payload("user_new", email, event="user.updated", updated_at=at)

    await outcome(client, user_payload("user_new", "a@example.com", updated_at=1_000))
    assert await outcome(client, updated("c@example.com", 3_000)) == "updated"
    # Clerk retries the delivery of an earlier change that failed at first.
    assert await outcome(client, updated("b@example.com", 2_000)) == "unchanged"
    user = await linked_to(session, "user_new")
    assert user is not None
    assert user.email == "c@example.com"


async def test_a_deletion_delivered_before_the_creation_wins(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    assert await outcome(client, deleted_payload("user_late")) == "ignored"
    assert await outcome(client, user_payload("user_late", "late@example.com")) == "ignored"
    assert await count_users(session, "late@example.com") == 0


async def test_unknown_event_types_are_acknowledged(client: httpx.AsyncClient) -> None:
    event = {"type": "session.created", "data": {"id": "sess_1", "user_id": "user_new"}}
    assert await outcome(client, event) == "ignored"


async def test_a_user_without_an_email_is_acknowledged(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    assert await outcome(client, user_payload("user_phoneonly", None)) == "ignored"
    assert await linked_to(session, "user_phoneonly") is None


async def test_an_existing_user_with_the_verified_email_is_linked_not_duplicated(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    admin = await UserFactory.create(session, email="root@example.com", role=Role.ADMIN)
    assert await outcome(client, user_payload("user_root", "root@example.com")) == "linked"
    linked = await linked_to(session, "user_root")
    assert linked is not None
    assert (linked.id, linked.role) == (admin.id, Role.ADMIN)
    assert await count_users(session, "root@example.com") == 1


async def test_an_unverified_email_does_not_claim_an_existing_user(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await UserFactory.create(session, email="root@example.com", role=Role.ADMIN)
    response = await deliver(client, user_payload("user_x", "root@example.com", verified=False))
    assert response.status_code == 409
    assert response.json()["code"] == "clerk_account_conflict"
    assert await linked_to(session, "user_x") is None


@pytest.mark.parametrize("event", ["user.created", "user.updated"])
async def test_an_email_held_by_another_account_is_a_conflict(
    client: httpx.AsyncClient, session: AsyncSession, event: str
) -> None:
    await UserFactory.create(session, email="taken@example.com", clerk_id="user_owner")
    await UserFactory.create(session, email="mine@example.com", clerk_id="user_mine")
    response = await deliver(client, user_payload("user_mine", "taken@example.com", event=event))
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert await count_users(session, "taken@example.com") == 1


@pytest.mark.parametrize("case", ["another secret", "body changed", "stale", "unsigned"])
async def test_bad_or_stale_deliveries_are_401_and_change_nothing(
    client: httpx.AsyncClient, session: AsyncSession, case: str
) -> None:
    payload = user_payload("user_new", "new@example.com")
    if case == "another secret":
        body, headers = signed_delivery(payload, secret="whsec_" + "QUFBQUFBQUFBQUFBQUFBQQ==")
    elif case == "stale":
        body, headers = signed_delivery(payload, sent_at=datetime.now(UTC) - timedelta(hours=1))
    else:
        body, headers = signed_delivery(payload)
    if case == "body changed":
        body = body.replace(b"new@example.com", b"evil@example.com")
    if case == "unsigned":
        headers = {"content-type": "application/json"}
    response = await client.post(URL, content=body, headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_webhook_signature"
    assert await linked_to(session, "user_new") is None


@pytest.mark.parametrize(
    "payload",
    [
        "{not json",
        "[]",
        {"type": "user.created"},
        {"type": "user.created", "data": {"email_addresses": []}},
        {"type": "user.created", "data": {"id": "not-a-clerk-id", "email_addresses": []}},
        user_payload("user_new", "not-an-email"),
        {"type": "user.deleted", "data": {"id": 42}},
        {"type": "user.deleted", "data": {"id": "user_\u0000"}},
        user_payload("user_\u0000", "nul@example.com"),
    ],
)
async def test_a_signed_but_malformed_body_is_422(
    client: httpx.AsyncClient, payload: dict[str, Any] | str
) -> None:
    response = await deliver(client, payload)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


@pytest.fixture
async def client_without_secret(
    settings: Settings, engine: AsyncEngine, connection: AsyncConnection
) -> AsyncIterator[httpx.AsyncClient]:
    database = Database(engine, create_sessionmaker(connection), owns_engine=False)
    app = create_app(settings.model_copy(update={"clerk_webhook_secret": None}), database=database)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def test_without_a_webhook_secret_deliveries_are_401(
    client_without_secret: httpx.AsyncClient,
) -> None:
    response = await deliver(client_without_secret, user_payload("user_new", "new@example.com"))
    assert response.status_code == 401
    assert "CLERK_WEBHOOK_SECRET" in response.json()["detail"]


async def test_the_webhook_is_served_outside_the_api_prefix(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    responses = spec["paths"]["/webhooks/clerk"]["post"]["responses"]
    assert {"200", "401", "409", "422"} <= set(responses)
    assert (await client.post("/api/v1/webhooks/clerk")).status_code == 404
