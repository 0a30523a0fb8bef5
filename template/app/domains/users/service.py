"""User management rules.

- Everyone authenticated may read and list users, within their scope (themself, or everyone
  for admins).
- Only admins create, update or delete users.
- Nobody changes their own role, and an admin cannot delete themself.
- An admin's change to users (create, update, delete) runs only while they are an admin: the
  check reads their row under a lock, so an admin demoted meanwhile (by a concurrent request,
  or in another process while their credential is still cached) is refused with 403, and of
  two admins demoting or deleting each other at once, one is left.
"""

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError

from app.domains.base.authorization import Role
from app.domains.base.exceptions import Conflict, PermissionDenied
from app.domains.base.repository import check_bulk
from app.domains.base.service import Action, Service
from app.domains.users.exceptions import (
    AdminRequired,
    CannotChangeOwnRole,
    CannotDeleteSelf,
    EmailAlreadyRegistered,
)
from app.domains.users.models import User
from app.domains.users.repository import UserRepository
from app.domains.users.schemas import UserFilters, UserStatistics


class UserService(Service[User, UserFilters, UserRepository]):
    repository_class = UserRepository

    def _check_general_permissions(self, action: Action) -> None:
        if action in (Action.READ, Action.LIST):
            return
        if not self.context.is_admin:
            raise AdminRequired(action.value)

    def _check_instance_permissions(
        self, action: Action, instance: User, changes: Mapping[str, Any] | None = None
    ) -> None:
        is_self = instance.id == self.context.user_id
        if action is Action.READ and not (is_self or self.context.is_admin):
            raise PermissionDenied("you may only read your own user")
        changes = changes or {}
        if (
            action is Action.UPDATE
            and is_self
            and changes.get("role", instance.role) != instance.role
        ):
            raise CannotChangeOwnRole()
        if action is Action.DELETE and is_self:
            raise CannotDeleteSelf()

    async def bulk_create(self, items: Sequence[BaseModel]) -> list[User]:
        await self._confirm_admin(Action.CREATE, [])
        return await super().bulk_create(items)

    async def update(self, entity_id: uuid.UUID, data: BaseModel) -> User:
        await self._confirm_admin(Action.UPDATE, [entity_id])
        return await super().update(entity_id, data)

    async def bulk_update(self, entity_ids: Sequence[uuid.UUID], data: BaseModel) -> int:
        await self._confirm_admin(Action.UPDATE, entity_ids)
        return await super().bulk_update(entity_ids, data)

    async def delete(self, entity_id: uuid.UUID) -> None:
        await self._confirm_admin(Action.DELETE, [entity_id])
        await super().delete(entity_id)

    async def bulk_delete(self, entity_ids: Sequence[uuid.UUID]) -> int:
        await self._confirm_admin(Action.DELETE, entity_ids)
        return await super().bulk_delete(entity_ids)

    async def _confirm_admin(self, action: Action, targets: Sequence[uuid.UUID]) -> None:
        """Lock the acting admin's row and the targets' (one statement, in a fixed order), and
        refuse with 403 when the admin is one no longer. An actor the context says is not an
        admin is left to the usual checks, which answer 404 before 403."""
        check_bulk(targets)  # before they are locked: one parameter each
        if self.is_system or not self.context.is_admin:
            return
        actor = self.context.user_id
        roles = await self.repository.lock_roles([actor, *targets])
        if roles.get(actor) is not Role.ADMIN:
            raise AdminRequired(action.value)

    async def _validate_create(self, values: Mapping[str, Any]) -> None:
        await self._ensure_email_free(values["email"])

    async def _validate_update(self, instance: User, values: Mapping[str, Any]) -> None:
        email = values.get("email")
        if email is not None and email != instance.email:
            await self._ensure_email_free(email)

    async def _ensure_email_free(self, email: str) -> None:
        if await self.repository.get_by_email(email) is not None:
            raise EmailAlreadyRegistered(email)

    def _conflict(self, error: IntegrityError) -> Conflict:
        # The one unique column a user's change can collide on.
        return EmailAlreadyRegistered()

    async def get_by_email(self, email: str) -> User | None:
        """The user with this e-mail, if the actor may see them."""
        user = await self.repository.get_by_email(email)
        if user is not None:
            self._authorize(Action.READ, [user])
        return user

    async def statistics(self, *, since: datetime) -> UserStatistics:
        """Counts of the users the actor may see: by role, and those created since `since`."""
        self._authorize(Action.LIST)
        by_role = await self.repository.count_by_role()
        return UserStatistics(
            total=sum(by_role.values()),
            admins=by_role[Role.ADMIN],
            standard=by_role[Role.STANDARD],
            joined_since=await self.repository.count_created_since(since),
            since=since,
        )
