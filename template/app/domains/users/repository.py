"""Data access for users (always scoped: a standard user only ever reads their own row)."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select

from app.domains.base.authorization import Role
from app.domains.base.repository import CrudRepository
from app.domains.users.authorization import UserScopeStrategy
from app.domains.users.models import User
from app.domains.users.schemas import UserFilters


class UserRepository(CrudRepository[User, UserFilters]):
    model = User
    scope_strategy = UserScopeStrategy
    sortable_fields = {"email": User.email, "role": User.role, "updated_at": User.updated_at}

    def _apply_filters(self, statement: Select[Any], filters: UserFilters) -> Select[Any]:
        if filters.email is not None:
            statement = statement.where(User.email == filters.email)
        if filters.role is not None:
            statement = statement.where(User.role == filters.role)
        if filters.search is not None:
            statement = statement.where(
                User.email.contains(filters.search.lower(), autoescape=True)
            )
        return statement

    async def get_by_email(self, email: str) -> User | None:
        return await self.session.scalar(self._select().where(User.email == email.lower()))

    async def lock(self, user_id: uuid.UUID) -> User | None:
        """Load a user and hold its row lock until the transaction ends (PostgreSQL).

        Serialises concurrent changes that depend on a per-user count. SQLite has no row locks;
        there the unit of work takes the database write lock up front instead.
        """
        statement = self._select().where(User.id == user_id).with_for_update()
        return await self.session.scalar(statement)

    async def lock_roles(self, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Role]:
        """The roles of these users, holding their row locks until the transaction ends
        (PostgreSQL), taken in the order of their ids: two transactions that lock the same
        users take turns instead of deadlocking. Users gone (or out of scope) are left out."""
        statement = (
            self._apply_user_scope(select(User.id, User.role))
            .where(User.id.in_(user_ids))
            .order_by(User.id)
            .with_for_update()
        )
        return {row.id: row.role for row in await self.session.execute(statement)}

    async def count_by_role(self) -> dict[Role, int]:
        """The number of visible users of each role (roles nobody holds count zero)."""
        statement = self._apply_user_scope(
            select(User.role, func.count(User.id)).group_by(User.role)
        )
        counts = dict.fromkeys(Role, 0)
        for role, count in await self.session.execute(statement):
            counts[role] = count
        return counts

    async def count_created_since(self, since: datetime) -> int:
        statement = self._apply_user_scope(
            select(func.count(User.id)).where(User.created_at >= since)
        )
        return await self.session.scalar(statement) or 0
