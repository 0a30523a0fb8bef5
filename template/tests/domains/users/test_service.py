"""Users rules: self-only for standard users, admin-only management, no self-demotion."""

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.domains.base.authorization import AuthorizationContext, Role
from app.domains.base.exceptions import NotFound
from app.domains.users.exceptions import (
    AdminRequired,
    CannotChangeOwnRole,
    CannotDeleteSelf,
    EmailAlreadyRegistered,
)
from app.domains.users.models import User
from app.domains.users.schemas import UserCreate, UserFilters, UserUpdate
from app.domains.users.service import UserService
from app.infrastructure.database import is_conflict


def service_for(session: AsyncSession, user: User) -> UserService:
    return UserService.for_user(session, AuthorizationContext.of(user))


async def test_standard_user_sees_only_themself(
    session: AsyncSession, alice: User, bob: User
) -> None:
    service = service_for(session, alice)
    assert await service.get(alice.id) is alice
    with pytest.raises(NotFound):
        await service.get(bob.id)
    users, total = await service.list_page(UserFilters())
    assert (users, total) == ([alice], 1)
    assert await service.get_by_email(bob.email) is None


async def test_standard_user_cannot_manage_users(session: AsyncSession, alice: User) -> None:
    service = service_for(session, alice)
    with pytest.raises(AdminRequired):
        await service.create(UserCreate(email="new@example.com"))
    with pytest.raises(AdminRequired):
        await service.update(alice.id, UserUpdate(email="me@example.com"))
    with pytest.raises(AdminRequired):
        await service.delete(alice.id)


async def test_admin_manages_users(session: AsyncSession, admin: User, alice: User) -> None:
    service = service_for(session, admin)
    created = await service.create(UserCreate(email="New.Person@Example.com"))
    assert created.email == "new.person@example.com"
    assert created.role is Role.STANDARD
    promoted = await service.update(alice.id, UserUpdate(role=Role.ADMIN))
    assert promoted.role is Role.ADMIN
    await service.delete(created.id)
    with pytest.raises(NotFound):
        await service.get(created.id)


async def test_emails_are_unique_whatever_their_case(
    session: AsyncSession, admin: User, alice: User
) -> None:
    service = service_for(session, admin)
    with pytest.raises(EmailAlreadyRegistered):
        await service.create(UserCreate(email=alice.email.upper()))
    with pytest.raises(EmailAlreadyRegistered):
        await service.update(admin.id, UserUpdate(email=alice.email))


async def test_an_email_taken_by_a_concurrent_request_is_the_same_error(
    session: AsyncSession, admin: User, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = service_for(session, admin)

    async def not_found_yet(email: str) -> None:
        return None  # the other request had not committed when this one checked

    monkeypatch.setattr(service.repository, "get_by_email", not_found_yet)
    with pytest.raises(EmailAlreadyRegistered):
        await service.update(admin.id, UserUpdate(email=alice.email))


async def test_a_violation_other_than_a_conflict_is_not_answered_as_one(
    session: AsyncSession, admin: User
) -> None:
    """A NOT NULL violation (here an address left out; in production, a column a newer schema
    added) is a fault of the service, not "the e-mail is taken"."""
    service = service_for(session, admin)

    async def add_without_an_address() -> None:
        async with service._conflicts_as_domain_errors():
            session.add(User(email=None, role=Role.STANDARD))
            await session.flush()

    with pytest.raises(IntegrityError) as raised:
        await add_without_an_address()
    assert not is_conflict(raised.value)


async def test_nobody_changes_their_own_role(session: AsyncSession, admin: User) -> None:
    service = service_for(session, admin)
    with pytest.raises(CannotChangeOwnRole):
        await service.update(admin.id, UserUpdate(role=Role.STANDARD))
    unchanged = await service.update(admin.id, UserUpdate(role=Role.ADMIN))
    assert unchanged.role is Role.ADMIN


async def test_admin_cannot_delete_themself(session: AsyncSession, admin: User) -> None:
    with pytest.raises(CannotDeleteSelf):
        await service_for(session, admin).delete(admin.id)


def test_null_is_refused_for_required_fields() -> None:
    with pytest.raises(ValueError, match="email cannot be null"):
        UserUpdate(email=None)
