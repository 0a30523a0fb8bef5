"""API keys: issued once, stored as digests, owner-only, limited, revocable, expiring."""

from datetime import datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.domains.api_keys.exceptions import APIKeyLimitReached, ExpiryInThePast, InvalidAPIKey
from app.domains.api_keys.factory import APIKeyFactory
from app.domains.api_keys.models import APIKey
from app.domains.api_keys.schemas import APIKeyCreate, APIKeyFilters
from app.domains.api_keys.service import KEY_PREFIX, APIKeyService
from app.domains.base.authorization import AuthorizationContext
from app.domains.base.exceptions import NotFound
from app.domains.base.models import utc_now
from app.domains.users.models import User
from app.infrastructure.security import keyed_digest

SECRET = "secret-for-api-key-tests-0123456789abcdef"


def service_for(session: AsyncSession, user: User) -> APIKeyService:
    context = AuthorizationContext.of(user)
    return APIKeyService.for_user(session, context)


async def issue(
    service: APIKeyService, name: str = "ci", expires_at: datetime | None = None
) -> tuple[str, APIKey]:
    data = APIKeyCreate(name=name, expires_at=expires_at)
    issued = await service.issue(data, secret=SECRET, max_active=3)
    return issued.plaintext, issued.api_key


async def test_issue_returns_the_plaintext_and_stores_only_its_digest(
    session: AsyncSession, alice: User
) -> None:
    plaintext, api_key = await issue(service_for(session, alice))
    assert plaintext.startswith(KEY_PREFIX)
    assert len(plaintext) >= 40
    assert api_key.key_hash == keyed_digest(SECRET, plaintext)
    assert plaintext not in api_key.key_hash
    assert plaintext.startswith(api_key.prefix)


async def test_authenticate_finds_the_owner(session: AsyncSession, alice: User) -> None:
    plaintext, _ = await issue(service_for(session, alice))
    api_key, owner = await APIKeyService.for_system(session).authenticate(plaintext, secret=SECRET)
    assert owner is alice
    assert api_key.user_id == alice.id


@pytest.mark.parametrize("presented", ["", "sk_unknown", "no-prefix", KEY_PREFIX + "x" * 500])
async def test_unknown_keys_are_rejected(session: AsyncSession, presented: str) -> None:
    with pytest.raises(InvalidAPIKey):
        await APIKeyService.for_system(session).authenticate(presented, secret=SECRET)


async def test_a_key_under_another_secret_is_rejected(session: AsyncSession, alice: User) -> None:
    plaintext, _ = await issue(service_for(session, alice))
    with pytest.raises(InvalidAPIKey):
        await APIKeyService.for_system(session).authenticate(plaintext, secret=SECRET + "x")


async def test_revoked_and_expired_keys_are_rejected(session: AsyncSession, alice: User) -> None:
    service = service_for(session, alice)
    system = APIKeyService.for_system(session)
    revoked, revoked_key = await issue(service)
    await service.revoke(revoked_key.id)
    with pytest.raises(InvalidAPIKey):
        await system.authenticate(revoked, secret=SECRET)

    expiring, _ = await issue(service, expires_at=utc_now() + timedelta(hours=1))
    await system.authenticate(expiring, secret=SECRET)
    with pytest.raises(InvalidAPIKey):
        await system.authenticate(expiring, secret=SECRET, now=utc_now() + timedelta(hours=2))


async def test_expiry_must_be_in_the_future(session: AsyncSession, alice: User) -> None:
    with pytest.raises(ExpiryInThePast):
        await issue(service_for(session, alice), expires_at=utc_now() - timedelta(seconds=1))


async def test_active_keys_are_limited_per_user(session: AsyncSession, alice: User) -> None:
    service = service_for(session, alice)
    keys = [(await issue(service, f"k{n}"))[1] for n in range(3)]
    with pytest.raises(APIKeyLimitReached):
        await issue(service, "one too many")
    await service.revoke(keys[0].id)
    await issue(service, "replacement")


async def test_keys_belong_to_their_owner_only(
    session: AsyncSession, alice: User, admin: User
) -> None:
    _, alice_key = await issue(service_for(session, alice))
    admin_service = service_for(session, admin)
    with pytest.raises(NotFound):
        await admin_service.get(alice_key.id)
    with pytest.raises(NotFound):
        await admin_service.revoke(alice_key.id)
    keys, total = await admin_service.list_page(APIKeyFilters())
    assert (keys, total) == ([], 0)


def test_keys_are_only_issued_revoked_and_purged(session: AsyncSession, alice: User) -> None:
    service = service_for(session, alice)
    crud = {"create", "bulk_create", "update", "bulk_update", "delete", "bulk_delete"}
    assert not {name for name in crud if hasattr(service, name)}


async def test_revoking_twice_changes_nothing(session: AsyncSession, alice: User) -> None:
    service = service_for(session, alice)
    _, api_key = await issue(service)
    first = await service.revoke(api_key.id)
    revoked_at = first.revoked_at
    second = await service.revoke(api_key.id)
    assert second.revoked_at == revoked_at


async def test_active_filter(session: AsyncSession, alice: User) -> None:
    service = service_for(session, alice)
    await issue(service, "kept")
    _, dropped = await issue(service, "dropped")
    await service.revoke(dropped.id)
    active, _ = await service.list_page(APIKeyFilters(active=True))
    inactive, _ = await service.list_page(APIKeyFilters(active=False))
    assert [key.name for key in active] == ["kept"]
    assert [key.name for key in inactive] == ["dropped"]


async def test_use_is_recorded_at_most_once_a_minute(session: AsyncSession, alice: User) -> None:
    api_key = await APIKeyFactory.create(session, user_id=alice.id)
    system = APIKeyService.for_system(session)
    now = utc_now()
    assert system.use_record_due(api_key, now=now)
    assert await system.record_use_by_id(api_key.id, now=now) is True
    await session.refresh(api_key)
    assert api_key.last_used_at == now
    assert not system.use_record_due(api_key, now=now + timedelta(seconds=30))
    # Even a stale in-memory copy cannot write twice within the minute: the UPDATE checks.
    assert await system.record_use_by_id(api_key.id, now=now + timedelta(seconds=30)) is False
    assert await system.record_use_by_id(api_key.id, now=now + timedelta(seconds=61)) is True


async def test_authentication_lookups_refuse_user_context(
    session: AsyncSession, alice: User
) -> None:
    service = service_for(session, alice)
    with pytest.raises(PermissionError):
        await service.repository.find_with_owner_by_hash_unscoped("0" * 64)
