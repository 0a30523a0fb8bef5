"""Data access for users (always scoped: a standard user only ever reads their own row)."""

import uuid
from typing import Any

from sqlalchemy import Select

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
