"""The base service: explicit construction, deny-by-default permissions, audit fields."""

import dataclasses
import uuid
from collections.abc import Mapping
from typing import Any, cast

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.domains.base.authorization import SYSTEM, AuthorizationContext, Role, UserContext
from app.domains.base.exceptions import NotFound, PermissionDenied, ValidationFailed
from app.domains.base.repository import MAX_BULK
from app.domains.base.service import Action, Service
from app.domains.users.factory import UserFactory
from app.domains.users.models import User
from app.domains.users.repository import UserRepository
from app.domains.users.schemas import UserCreate, UserFilters, UserUpdate
from app.domains.users.service import UserService
from tests.support.database import statements

ADMIN_ROLE = UserUpdate(role=Role.ADMIN)


class BareService(Service[User, UserFilters, UserRepository]):
    """A service that states no permissions: users may do nothing, the system everything."""

    repository_class = UserRepository


def test_services_are_built_only_through_their_factories(session: AsyncSession) -> None:
    with pytest.raises(TypeError, match="for_user"):
        BareService(session, cast(Any, None))
    with pytest.raises(TypeError, match="AuthorizationContext"):
        BareService.for_user(session, cast(Any, None))


def test_a_system_service_has_no_user_context(session: AsyncSession) -> None:
    service = BareService.for_system(session)
    assert service.is_system
    assert service.actor_id is None
    with pytest.raises(PermissionError):
        _ = service.context


async def test_a_caller_is_built_from_a_user_and_cannot_change(session: AsyncSession) -> None:
    admin = await UserFactory.create(session, role=Role.ADMIN)
    caller = AuthorizationContext.of(admin)
    assert (caller.user_id, caller.user_email, caller.user_role) == (
        admin.id,
        admin.email,
        admin.role,
    )
    assert caller.is_admin
    with pytest.raises(dataclasses.FrozenInstanceError):
        caller.user_role = Role.STANDARD  # ty: ignore[invalid-assignment]
    assert BareService.for_user(session, caller).actor_id == admin.id


async def test_the_earlier_keywords_still_build_a_caller(session: AsyncSession) -> None:
    user = await UserFactory.create(session)
    caller = UserContext(id=user.id, email=user.email, role=user.role)
    assert isinstance(caller, AuthorizationContext)
    assert (caller.user_id, caller.user_email, caller.user_role) == (user.id, user.email, user.role)
    assert BareService.for_user(session, caller).context is caller


async def test_permissions_deny_users_by_default(session: AsyncSession) -> None:
    admin = await UserFactory.create(session, role=Role.ADMIN)
    service = BareService.for_user(session, AuthorizationContext.of(admin))
    operations = [
        service.get(admin.id),
        service.list_page(UserFilters()),
        service.list_keyset(UserFilters()),
        service.create(UserCreate(email="new@example.com")),
        service.bulk_create([UserCreate(email="new@example.com")]),
        service.update(admin.id, UserUpdate(email="x@example.com")),
        service.bulk_update([admin.id], UserUpdate(email="x@example.com")),
        service.delete(admin.id),
        service.bulk_delete([admin.id]),
    ]
    for operation in operations:
        with pytest.raises(PermissionDenied):
            await operation


async def test_the_system_may_do_everything(session: AsyncSession) -> None:
    service = BareService.for_system(session)
    created = await service.bulk_create(
        [UserCreate(email="one@example.com"), UserCreate(email="two@example.com")]
    )
    ids = [user.id for user in created]
    assert await service.bulk_update(ids, UserUpdate(role=Role.ADMIN)) == 2
    assert all(user.role is Role.ADMIN for user in created)
    assert await service.bulk_delete(ids) == 2
    with pytest.raises(NotFound):
        await service.get(ids[0])


async def test_a_bulk_update_costs_the_same_statements_for_any_number_of_rows(
    session: AsyncSession, connection: AsyncConnection
) -> None:
    """The rows it changes come back refreshed from the UPDATE itself: none is read again."""
    service = BareService.for_system(session)
    issued: dict[int, int] = {}
    for count in (2, 40):
        users = await UserFactory.create_batch(session, count)
        with statements(connection) as during:
            changed = await service.bulk_update([user.id for user in users], ADMIN_ROLE)
        assert changed == count
        assert all(user.role is Role.ADMIN for user in users)
        issued[count] = len(during)
    assert issued[2] == issued[40]


async def test_more_ids_or_items_than_a_bulk_operation_takes_are_refused(
    session: AsyncSession,
) -> None:
    """Refused before any statement, rather than failing in the database (PostgreSQL takes
    at most 32,767 parameters a statement)."""
    admin = await UserFactory.create(session, role=Role.ADMIN)
    ids = [uuid.uuid4() for _ in range(MAX_BULK + 1)]
    items = [UserCreate(email=f"user{n}@example.com") for n in range(MAX_BULK + 1)]
    for service in (
        BareService.for_system(session),
        UserService.for_user(session, AuthorizationContext.of(admin)),
    ):
        for operation in (
            service.bulk_update(ids, ADMIN_ROLE),
            service.bulk_delete(ids),
            service.bulk_create(items),
        ):
            with pytest.raises(ValidationFailed, match=f"at most {MAX_BULK}"):
                await operation
    with pytest.raises(ValidationFailed, match="ids"):
        await UserRepository(session, SYSTEM).get_many(ids)


async def test_bulk_operations_are_not_found_when_any_row_is_out_of_scope(
    session: AsyncSession,
) -> None:
    me, other = await UserFactory.create_batch(session, 2)

    class SelfService(BareService):
        def _check_general_permissions(self, action: Action) -> None:
            return None

        def _check_instance_permissions(
            self, action: Action, instance: User, changes: Mapping[str, Any] | None = None
        ) -> None:
            return None

    service = SelfService.for_user(session, AuthorizationContext.of(me))
    with pytest.raises(NotFound):
        await service.bulk_delete([me.id, other.id])
    with pytest.raises(NotFound):
        await service.bulk_update([me.id, other.id], UserUpdate(role=Role.ADMIN))
    assert await BareService.for_system(session).get(me.id) is me


async def test_audit_columns_record_the_actor(session: AsyncSession) -> None:
    admin = await UserFactory.create(session, role=Role.ADMIN)

    class AuditedService(BareService):
        def _check_general_permissions(self, action: Action) -> None:
            return None

        def _check_instance_permissions(
            self, action: Action, instance: User, changes: Mapping[str, Any] | None = None
        ) -> None:
            return None

    service = AuditedService.for_user(session, AuthorizationContext.of(admin))
    user = await service.create(UserCreate(email="audited@example.com"))
    assert (user.created_by, user.updated_by) == (admin.id, admin.id)
    system_made = await BareService.for_system(session).create(UserCreate(email="s@example.com"))
    assert system_made.created_by is None
