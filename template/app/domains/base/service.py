"""Business operations with permission checks on every path.

A service is built for an actor, explicitly: `for_user(session, context)` for requests made by a
user, `for_system(session)` for trusted jobs. Every operation checks general permissions (may
this actor do this action at all?) and, for each row it touches, instance permissions (may they
do it to this row?). Rows are looked up through the scoped repository first, so a row outside
the actor's scope is a `NotFound` (404), never a `PermissionDenied` (403).

Permissions deny by default: a domain service states what users may do by overriding
`_check_general_permissions` and `_check_instance_permissions`.

`Service` is the CRUD surface (get, list, create, update, delete and their bulk forms) that most
domains want. A domain whose rows are not edited as plain records (issued and withdrawn, say)
builds on `DomainService` instead: the same actor, permission checks and reads, and only the
operations it defines.
"""

import enum
import uuid
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Self

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.domains.base.authorization import (
    SYSTEM,
    Actor,
    AuthorizationContext,
    SystemContext,
)
from app.domains.base.exceptions import Conflict, NotFound, PermissionDenied
from app.domains.base.filters import Cursor, Filters, KeysetParams, PageParams, SortParams
from app.domains.base.models import Entity
from app.domains.base.repository import CrudRepository, check_bulk
from app.infrastructure.database import is_conflict


class Action(enum.StrEnum):
    READ = "read"
    LIST = "list"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


_FACTORY_TOKEN = object()


class DomainService[ModelT: Entity, FiltersT: Filters, RepositoryT: CrudRepository[Any, Any]]:
    """Reads of one model (get, list a page) on behalf of one actor, with permission checks."""

    repository_class: type[RepositoryT]

    def __init__(self, session: AsyncSession, actor: Actor, *, _token: object = None) -> None:
        if _token is not _FACTORY_TOKEN:
            raise TypeError(
                f"build {type(self).__name__} with .for_user(session, context) or "
                ".for_system(session)"
            )
        self.session = session
        self.actor = actor
        self.repository: RepositoryT = self.repository_class(session, actor)

    @classmethod
    def for_user(cls, session: AsyncSession, context: AuthorizationContext) -> Self:
        """A service acting for an authenticated user: checked and scoped."""
        if not isinstance(context, AuthorizationContext):
            raise TypeError(f"for_user needs an AuthorizationContext, got {context!r}")
        return cls(session, context, _token=_FACTORY_TOKEN)

    @classmethod
    def for_system(cls, session: AsyncSession) -> Self:
        """A service acting for the system (background jobs, webhooks, scripts): unrestricted."""
        return cls(session, SYSTEM, _token=_FACTORY_TOKEN)

    # -- who is acting -------------------------------------------------------------------

    @property
    def is_system(self) -> bool:
        return isinstance(self.actor, SystemContext)

    @property
    def context(self) -> AuthorizationContext:
        if not isinstance(self.actor, AuthorizationContext):
            raise PermissionError("a system operation has no user context")
        return self.actor

    @property
    def actor_id(self) -> uuid.UUID | None:
        return None if self.is_system else self.context.user_id

    # -- permission hooks (deny by default) ----------------------------------------------

    def _check_general_permissions(self, action: Action) -> None:
        """Raise `PermissionDenied` unless the user may perform `action` at all."""
        raise PermissionDenied(f"{action} is not allowed on {self._noun}")

    def _check_instance_permissions(
        self, action: Action, instance: ModelT, changes: Mapping[str, Any] | None = None
    ) -> None:
        """Raise `PermissionDenied` unless the user may perform `action` on `instance`."""
        raise PermissionDenied(f"{action} is not allowed on this {self._noun}")

    def _authorize(
        self,
        action: Action,
        instances: Sequence[ModelT] = (),
        changes: Mapping[str, Any] | None = None,
    ) -> None:
        if self.is_system:
            return
        self._check_general_permissions(action)
        for instance in instances:
            self._check_instance_permissions(action, instance, changes)

    # -- operations ----------------------------------------------------------------------

    async def get(self, entity_id: uuid.UUID) -> ModelT:
        instance = await self._get_visible(entity_id)
        self._authorize(Action.READ, [instance])
        return instance

    async def list_page(
        self,
        filters: FiltersT,
        *,
        sort: SortParams | None = None,
        page: PageParams | None = None,
    ) -> tuple[list[ModelT], int]:
        self._authorize(Action.LIST)
        items, total = await self.repository.list_page(filters, sort=sort, page=page)
        self._authorize(Action.READ, items)
        return items, total

    # -- helpers -------------------------------------------------------------------------

    @property
    def _noun(self) -> str:
        return self.repository.model.__name__

    async def _get_visible(self, entity_id: uuid.UUID) -> ModelT:
        instance = await self.repository.get(entity_id)
        if instance is None:
            raise NotFound(f"{self._noun} {entity_id} not found")
        return instance

    async def _get_all_visible(self, entity_ids: Sequence[uuid.UUID]) -> list[ModelT]:
        wanted = list(dict.fromkeys(entity_ids))
        found = {instance.id: instance for instance in await self.repository.get_many(wanted)}
        missing = [entity_id for entity_id in wanted if entity_id not in found]
        if missing:
            raise NotFound(f"{self._noun} {missing[0]} not found")
        return [found[entity_id] for entity_id in wanted]

    def _conflict_message(self, error: IntegrityError) -> str:
        return f"the {self._noun} conflicts with an existing one"

    def _conflict(self, error: IntegrityError) -> Conflict:
        """The domain error of a violation the checks before the write missed (a concurrent
        request won the race): a domain answers it as it answers the checked case."""
        return Conflict(self._conflict_message(error))

    @asynccontextmanager
    async def _conflicts_as_domain_errors(self) -> AsyncGenerator[None]:
        """Turn a unique or foreign-key violation raised by a flush into a `Conflict` (any
        other violation is not the caller's doing, and goes on as it is)."""
        try:
            yield
        except IntegrityError as error:
            if not is_conflict(error):
                raise
            raise self._conflict(error) from error


class Service[ModelT: Entity, FiltersT: Filters, RepositoryT: CrudRepository[Any, Any]](
    DomainService[ModelT, FiltersT, RepositoryT]
):
    """CRUD and bulk operations on one model, on behalf of one actor."""

    # -- hooks a domain may override -----------------------------------------------------

    async def _prepare_create(self, data: BaseModel) -> dict[str, Any]:
        """Column values of a new row from its input schema."""
        return data.model_dump()

    async def _validate_create(self, values: Mapping[str, Any]) -> None:
        """Raise a domain error if the new row would break a business rule."""

    async def _prepare_update(self, instance: ModelT, data: BaseModel) -> dict[str, Any]:
        """Column values to change from an update schema (only the fields that were sent)."""
        return data.model_dump(exclude_unset=True)

    async def _validate_update(self, instance: ModelT, values: Mapping[str, Any]) -> None:
        """Raise a domain error if the change would break a business rule."""

    # -- operations ----------------------------------------------------------------------

    async def list_keyset(
        self,
        filters: FiltersT,
        *,
        sort: SortParams | None = None,
        keyset: KeysetParams | None = None,
    ) -> tuple[list[ModelT], Cursor | None]:
        self._authorize(Action.LIST)
        items, cursor = await self.repository.list_keyset(filters, sort=sort, keyset=keyset)
        self._authorize(Action.READ, items)
        return items, cursor

    async def create(self, data: BaseModel) -> ModelT:
        return (await self.bulk_create([data]))[0]

    async def bulk_create(self, items: Sequence[BaseModel]) -> list[ModelT]:
        check_bulk(items, "items")
        self._authorize(Action.CREATE)
        entities = []
        for data in items:
            values = await self._prepare_create(data)
            await self._validate_create(values)
            entity = self.repository.model(
                **values, created_by=self.actor_id, updated_by=self.actor_id
            )
            self._authorize(Action.CREATE, [entity])
            entities.append(entity)
        async with self._conflicts_as_domain_errors():
            return await self.repository.add_all(entities)

    async def update(self, entity_id: uuid.UUID, data: BaseModel) -> ModelT:
        instance = await self._get_visible(entity_id)
        values = await self._prepare_update(instance, data)
        self._authorize(Action.UPDATE, [instance], values)
        await self._validate_update(instance, values)
        if not values:
            return instance
        async with self._conflicts_as_domain_errors():
            return await self.repository.update(instance, {**values, "updated_by": self.actor_id})

    async def bulk_update(self, entity_ids: Sequence[uuid.UUID], data: BaseModel) -> int:
        check_bulk(entity_ids)
        instances = await self._get_all_visible(entity_ids)
        values = data.model_dump(exclude_unset=True)
        self._authorize(Action.UPDATE, instances, values)
        for instance in instances:
            await self._validate_update(instance, values)
        if not values:
            return 0
        async with self._conflicts_as_domain_errors():
            return await self.repository.update_many(
                [instance.id for instance in instances], {**values, "updated_by": self.actor_id}
            )

    async def delete(self, entity_id: uuid.UUID) -> None:
        instance = await self._get_visible(entity_id)
        self._authorize(Action.DELETE, [instance])
        await self.repository.delete(instance)

    async def bulk_delete(self, entity_ids: Sequence[uuid.UUID]) -> int:
        check_bulk(entity_ids)
        instances = await self._get_all_visible(entity_ids)
        self._authorize(Action.DELETE, instances)
        return await self.repository.delete_many([instance.id for instance in instances])
