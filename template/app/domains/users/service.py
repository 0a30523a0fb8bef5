"""User management rules.

- Everyone authenticated may read and list users, within their scope (themself, or everyone
  for admins).
- Only admins create, update or delete users.
- Nobody changes their own role, and an admin cannot delete themself.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from app.domains.base.authorization import Role
from app.domains.base.exceptions import PermissionDenied
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

    async def _validate_create(self, values: Mapping[str, Any]) -> None:
        await self._ensure_email_free(values["email"])

    async def _validate_update(self, instance: User, values: Mapping[str, Any]) -> None:
        email = values.get("email")
        if email is not None and email != instance.email:
            await self._ensure_email_free(email)

    async def _ensure_email_free(self, email: str) -> None:
        if await self.repository.get_by_email(email) is not None:
            raise EmailAlreadyRegistered(email)

    def _conflict_message(self, error: IntegrityError) -> str:
        return "a user with this e-mail already exists"

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
