"""Data access for API keys.

Reads and writes are scoped to the owner. The lookups made while authenticating a request run
before any user is known, and maintenance spans every owner, so those queries are `_unscoped`
and refuse to run except for `SYSTEM`.
"""

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    delete,
    func,
    not_,
    or_,
    select,
    update,
)

from app.domains.api_keys.authorization import APIKeyScopeStrategy
from app.domains.api_keys.models import APIKey
from app.domains.api_keys.schemas import APIKeyFilters
from app.domains.base.models import utc_now
from app.domains.base.repository import CrudRepository
from app.domains.users.models import User


def active_condition(now: datetime) -> ColumnElement[bool]:
    return and_(
        APIKey.revoked_at.is_(None), or_(APIKey.expires_at.is_(None), APIKey.expires_at > now)
    )


# Built once: every request with an uncached key runs it, and building a statement (and its
# cache key) costs more than running it.
_KEY_AND_OWNER_BY_HASH = (
    select(APIKey, User)
    .join(User, APIKey.user_id == User.id)
    .where(APIKey.key_hash == bindparam("key_hash"))
)


class APIKeyRepository(CrudRepository[APIKey, APIKeyFilters]):
    model = APIKey
    scope_strategy = APIKeyScopeStrategy
    sortable_fields = {"name": APIKey.name}

    def _apply_filters(self, statement: Select[Any], filters: APIKeyFilters) -> Select[Any]:
        if filters.active is not None:
            condition = active_condition(utc_now())
            statement = statement.where(condition if filters.active else not_(condition))
        return statement

    async def count_active(self, owner_id: uuid.UUID, now: datetime) -> int:
        statement = self._apply_user_scope(
            select(func.count(APIKey.id)).where(APIKey.user_id == owner_id, active_condition(now))
        )
        return await self.session.scalar(statement) or 0

    async def find_with_owner_by_hash_unscoped(self, key_hash: str) -> tuple[APIKey, User] | None:
        """The key with this digest and its owner, in one indexed query (authentication)."""
        self._require_system("find_with_owner_by_hash_unscoped")
        parameters = {"key_hash": key_hash}
        row = (await self.session.execute(_KEY_AND_OWNER_BY_HASH, parameters)).first()
        return None if row is None else (row[0], row[1])

    async def touch_unscoped(self, key_id: uuid.UUID, now: datetime, interval: timedelta) -> bool:
        """Record a use, unless one was recorded less than `interval` ago; True if written.

        The condition sits in the UPDATE itself, so concurrent requests write at most once.
        """
        self._require_system("touch_unscoped")
        statement = (
            update(APIKey)
            .where(
                APIKey.id == key_id,
                or_(APIKey.last_used_at.is_(None), APIKey.last_used_at <= now - interval),
            )
            .values(last_used_at=now)
            .returning(APIKey.id)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.scalar(statement)) is not None

    async def delete_stale_unscoped(self, cutoff: datetime) -> int:
        """Delete every key revoked or expired at or before `cutoff`; the number deleted."""
        self._require_system("delete_stale_unscoped")
        statement = (
            delete(APIKey)
            .where(or_(APIKey.revoked_at <= cutoff, APIKey.expires_at <= cutoff))
            .returning(APIKey.id)
            .execution_options(synchronize_session=False)
        )
        return len(list(await self.session.scalars(statement)))
