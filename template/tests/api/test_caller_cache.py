"""The authenticated-caller cache: no query for a known caller, and a documented bound on how
long a change made elsewhere can take to be seen."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.api.auth.caller_cache import CallerCache
from app.domains.base.authorization import Role
from app.domains.users.models import User
from app.domains.users.schemas import UserRead, UserUpdate
from app.domains.users.service import UserService
from tests.conftest import AuthHeaders


def caller(role: Role = Role.STANDARD) -> UserRead:
    now = datetime.now(UTC)
    return UserRead(
        id=uuid.uuid4(), email="a@example.com", role=role, created_at=now, updated_at=now
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr("app.api.auth.caller_cache.time.monotonic", fake)
    return fake


def test_entries_last_the_ttl(clock: Clock) -> None:
    cache = CallerCache(5)
    cache.put("a", caller(), credential_id="k1")
    clock.now += 4.9
    assert cache.get("a") is not None
    clock.now += 0.2
    assert cache.get("a") is None


def test_entries_never_outlive_the_credential(clock: Clock) -> None:
    cache = CallerCache(300)
    cache.put(
        "a", caller(), credential_id="k1", expires_at=datetime.now(UTC) + timedelta(seconds=2)
    )
    clock.now += 3
    assert cache.get("a") is None


def test_the_least_recently_used_entry_goes_first(clock: Clock) -> None:
    cache = CallerCache(60, max_entries=2)
    for name in ("a", "b"):
        cache.put(name, caller(), credential_id=name)
    cache.get("a")
    cache.put("c", caller(), credential_id="c")
    assert cache.get("b") is None
    assert cache.get("a") is not None
    assert cache.get("c") is not None


def test_forgetting_a_user_or_a_credential(clock: Clock) -> None:
    cache = CallerCache(60)
    someone = caller()
    cache.put("key", someone, credential_id="k1")
    cache.put("token", someone, credential_id="user_abc")
    cache.put("other", caller(), credential_id="k2")
    cache.forget_credential("k2")
    assert cache.get("other") is None
    cache.forget_user(someone.id)
    assert (cache.get("key"), cache.get("token")) == (None, None)


def test_a_zero_ttl_turns_the_cache_off() -> None:
    cache = CallerCache(0)
    assert cache.put("a", caller(), credential_id="k1") is None
    assert cache.get("a") is None


async def test_a_known_caller_costs_no_query(
    client: httpx.AsyncClient, engine: AsyncEngine, alice: User, auth_headers: AuthHeaders
) -> None:
    headers = await auth_headers(alice)
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 200
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        assert (await client.get("/api/v1/me", headers=headers)).json()["id"] == str(alice.id)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert statements == []


async def test_a_change_made_elsewhere_is_seen_within_the_ttl(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    alice: User,
    auth_headers: AuthHeaders,
    clock: Clock,
) -> None:
    headers = await auth_headers(alice)
    assert (await client.get("/api/v1/me", headers=headers)).json()["role"] == "standard"
    # Another process promotes alice: this process does not hear of it ...
    await UserService.for_system(session).update(alice.id, UserUpdate(role=Role.ADMIN))
    assert (await client.get("/api/v1/me", headers=headers)).json()["role"] == "standard"
    # ... until the entry is older than AUTH_CACHE_SECONDS.
    clock.now += app.state.settings.auth_cache_seconds
    assert (await client.get("/api/v1/me", headers=headers)).json()["role"] == "admin"


async def test_a_change_made_through_the_api_is_seen_at_once(
    client: httpx.AsyncClient, admin: User, alice: User, auth_headers: AuthHeaders
) -> None:
    alice_headers = await auth_headers(alice)
    assert (await client.get("/api/v1/me", headers=alice_headers)).json()["role"] == "standard"
    promoted = await client.patch(
        f"/api/v1/users/{alice.id}", headers=await auth_headers(admin), json={"role": "admin"}
    )
    assert promoted.status_code == 200
    assert (await client.get("/api/v1/me", headers=alice_headers)).json()["role"] == "admin"
