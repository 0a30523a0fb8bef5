"""The authenticated-caller cache: no query for a known caller, and a documented bound on how
long a change made elsewhere can take to be seen."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.api.auth.caller_cache import Authenticated, CallerCache
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


class Lookups:
    """An `authenticate` that counts its calls and answers when released."""

    def __init__(self, fail: bool = False) -> None:
        self.calls = 0
        self.fail = fail
        self.release = asyncio.Event()
        now = datetime.now(UTC)
        self.user = User(
            id=uuid.uuid4(),
            email="a@example.com",
            role=Role.STANDARD,
            created_at=now,
            updated_at=now,
        )

    async def __call__(self) -> Authenticated:
        self.calls += 1
        await self.release.wait()
        if self.fail:
            raise RuntimeError("the database is down")
        return Authenticated(self.user, "k1")


async def test_callers_missing_together_share_one_lookup() -> None:
    cache, lookups = CallerCache(5), Lookups()
    waiting = [asyncio.create_task(cache.caller("a", lookups)) for _ in range(10)]
    await asyncio.sleep(0)
    lookups.release.set()
    answers = await asyncio.gather(*waiting)
    assert lookups.calls == 1
    assert {user.id for user, _, _ in answers} == {lookups.user.id}
    assert sorted(cached for _, _, cached in answers) == [False] + [True] * 9


async def test_a_failed_shared_lookup_leaves_each_waiter_to_try_alone() -> None:
    cache, lookups = CallerCache(5), Lookups(fail=True)
    waiting = [asyncio.create_task(cache.caller("a", lookups)) for _ in range(3)]
    await asyncio.sleep(0)
    lookups.release.set()
    answers = await asyncio.gather(*waiting, return_exceptions=True)
    assert [type(answer) for answer in answers] == [RuntimeError] * 3
    assert lookups.calls == 3
    assert cache.get("a") is None


async def test_a_cancelled_lookup_does_not_fail_its_waiters() -> None:
    cache, lookups = CallerCache(5), Lookups()
    leader = asyncio.create_task(cache.caller("a", lookups))
    await asyncio.sleep(0)
    follower = asyncio.create_task(cache.caller("a", lookups))
    await asyncio.sleep(0)
    leader.cancel()
    await asyncio.sleep(0)
    lookups.release.set()
    user, _, cached = await follower
    assert (user.id, cached, lookups.calls) == (lookups.user.id, False, 2)


async def test_one_request_refreshes_an_entry_near_its_end(clock: Clock) -> None:
    cache, lookups = CallerCache(5), Lookups()
    lookups.release.set()
    await cache.caller("a", lookups)
    clock.now += 3.9  # not yet in the last fifth
    assert (await cache.caller("a", lookups))[2] is True
    assert lookups.calls == 1
    clock.now += 0.2
    lookups.release.clear()
    refresher = asyncio.create_task(cache.caller("a", lookups))
    await asyncio.sleep(0)
    # While it refreshes, the others keep the entry and send nothing to the database.
    others = [await cache.caller("a", lookups) for _ in range(5)]
    assert all(cached for _, _, cached in others)
    assert lookups.calls == 2
    lookups.release.set()
    assert (await refresher)[2] is False
    clock.now += 3.9  # past the old entry's end: the refreshed one lasts from its refresh
    assert (await cache.caller("a", lookups))[2] is True
    assert lookups.calls == 2


async def test_a_lookup_started_before_a_forget_is_not_remembered() -> None:
    cache, lookups = CallerCache(5), Lookups()
    looking = asyncio.create_task(cache.caller("a", lookups))
    await asyncio.sleep(0)
    cache.forget_user(lookups.user.id)  # e.g. their role changed meanwhile
    lookups.release.set()
    await looking
    assert cache.get("a") is None


async def test_what_is_looked_up_before_a_change_commits_goes_when_it_commits(
    session: AsyncSession,
) -> None:
    cache, lookups = CallerCache(5), Lookups()
    cache.forget_user(lookups.user.id, changed_in=session)  # the change, not committed yet
    async with session.begin_nested():  # a savepoint's end is not the commit
        pass
    lookups.release.set()
    await cache.caller("a", lookups)  # a request reads the user as they were ...
    assert cache.get("a") is not None
    lookups.release.clear()
    looking = asyncio.create_task(cache.caller("b", lookups))  # ... another is reading them
    await asyncio.sleep(0)
    await session.commit()
    assert cache.get("a") is None
    lookups.release.set()
    await looking
    assert cache.get("b") is None


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


async def test_a_lookup_between_a_change_and_its_commit_is_not_kept(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: User,
    alice: User,
    auth_headers: AuthHeaders,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alice_headers = await auth_headers(alice)
    assert (await client.get("/api/v1/me", headers=alice_headers)).json()["role"] == "standard"
    callers: CallerCache = app.state.callers
    forget = callers.forget_user

    def forget_while_alice_is_looked_up(user_id: uuid.UUID, **changed: AsyncSession) -> None:
        stale = [item for item in callers._entries.items() if item[1].user.id == user_id]
        forget(user_id, **changed)
        # A request of alice's looked her up after the forget, before the commit: as she was.
        for key, entry in stale:
            callers.put(key, entry.user, credential_id=entry.credential_id)

    monkeypatch.setattr(callers, "forget_user", forget_while_alice_is_looked_up)
    promoted = await client.patch(
        f"/api/v1/users/{alice.id}", headers=await auth_headers(admin), json={"role": "admin"}
    )
    assert promoted.status_code == 200
    assert (await client.get("/api/v1/me", headers=alice_headers)).json()["role"] == "admin"
