"""Data access: a small scoped repository and the mixins a domain composes from it.

Rules every repository keeps:
- every SELECT, UPDATE and DELETE it issues goes through `_apply_user_scope`, so a user only
  ever reads or changes rows their scope strategy allows;
- a query that cannot be scoped lives in a method whose name ends in `_unscoped`, which refuses
  to run for anyone but `SYSTEM`;
- repositories flush, never commit: the adapter that opened the unit of work commits it.
"""

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    ColumnElement,
    FunctionElement,
    Select,
    and_,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.compiler import SQLCompiler

from app.domains.base.authorization import (
    Actor,
    AuthorizationContext,
    AuthorizationScopeStrategy,
    Statement,
    SystemContext,
)
from app.domains.base.exceptions import NotFound, ValidationFailed
from app.domains.base.filters import Cursor, Filters, KeysetParams, PageParams, SortParams
from app.domains.base.models import Entity
from app.domains.base.schemas import storable

# What a list is sorted by: a column, or an expression of one.
type SortKey = ColumnElement[Any] | InstrumentedAttribute[Any]


# The most ids (or new rows) one bulk operation takes. Each id is a parameter of the statement,
# and PostgreSQL refuses a statement of more than 32,767; past this bound the caller splits
# the work, rather than the database failing on it.
MAX_BULK = 1_000


def check_bulk(items: Sequence[object], field: str = "ids") -> None:
    """Refuse (`ValidationFailed`) more than `MAX_BULK` ids or rows at once."""
    if len(items) > MAX_BULK:
        raise ValidationFailed.for_field(field, f"at most {MAX_BULK} at once, got {len(items)}")


class Repository[ModelT: Entity]:
    """Scoped access to one model. Build it with a session and an actor (a user or `SYSTEM`)."""

    model: ClassVar[type[Any]]
    scope_strategy: ClassVar[type[AuthorizationScopeStrategy[Any]]]

    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        if not isinstance(actor, AuthorizationContext | SystemContext):
            raise TypeError(
                f"{type(self).__name__} needs an AuthorizationContext or SYSTEM, got {actor!r}"
            )
        self.session = session
        self.actor = actor
        self._scope: AuthorizationScopeStrategy[ModelT] = self.scope_strategy(self.model)

    @property
    def is_system(self) -> bool:
        return isinstance(self.actor, SystemContext)

    def _apply_user_scope(self, statement: Statement) -> Statement:
        """Restrict a statement to the actor's rows; `SYSTEM` sees everything."""
        if isinstance(self.actor, SystemContext):
            return statement
        return self._scope.apply_scope(statement, self.actor)

    def _require_system(self, operation: str) -> None:
        if not self.is_system:
            raise PermissionError(f"{type(self).__name__}.{operation} runs only for SYSTEM")

    def _select(self) -> Select[ModelT]:
        return self._apply_user_scope(select(self.model))


class ReadMixin[ModelT: Entity](Repository[ModelT]):
    async def get(self, entity_id: uuid.UUID) -> ModelT | None:
        statement = self._select().where(self.model.id == entity_id)
        return await self.session.scalar(statement)

    async def get_many(self, entity_ids: Sequence[uuid.UUID]) -> list[ModelT]:
        check_bulk(entity_ids)
        if not entity_ids:
            return []
        rows = await self.session.scalars(self._select().where(self.model.id.in_(entity_ids)))
        return list(rows)


class ListMixin[ModelT: Entity, FiltersT: Filters](Repository[ModelT]):
    """Filtered, sorted lists with page/size (and a total) or keyset pagination.

    `sortable_fields` is the whitelist of sort names; keyset pagination needs them non-null.
    Rows are always ordered by the sort field and then by id, so pages are stable.
    """

    sortable_fields: ClassVar[Mapping[str, InstrumentedAttribute[Any]]] = {}
    default_sort: ClassVar[SortParams] = SortParams("created_at", descending=True)

    def _apply_filters(self, statement: Select[Any], filters: FiltersT) -> Select[Any]:
        """Narrow `statement` by `filters`; override in each domain."""
        return statement

    @classmethod
    def sort_options(cls) -> list[str]:
        """Every accepted `sort` value: each sortable field, ascending and descending."""
        fields = sorted({"created_at", *cls.sortable_fields})
        return [option for field in fields for option in (field, f"-{field}")]

    def _sort_column(self, sort: SortParams) -> InstrumentedAttribute[Any]:
        columns = {"created_at": self.model.created_at, **self.sortable_fields}
        if sort.field not in columns:
            allowed = ", ".join(sorted(columns))
            raise ValidationFailed.for_field(
                "sort", f"unknown field {sort.field!r}; sortable fields: {allowed}"
            )
        return columns[sort.field]

    def _ordered(
        self, statement: Select[Any], sort: SortParams, key: SortKey | None = None
    ) -> Select[Any]:
        """`statement` sorted by `key` (by default the sort's column), then by id."""
        by = self._sort_column(sort) if key is None else key
        if sort.descending:
            return statement.order_by(by.desc(), self.model.id.desc())
        return statement.order_by(by.asc(), self.model.id.asc())

    async def list_page(
        self,
        filters: FiltersT,
        *,
        sort: SortParams | None = None,
        page: PageParams | None = None,
    ) -> tuple[list[ModelT], int]:
        sort = sort or self.default_sort
        page = page or PageParams()
        statement = self._apply_filters(self._select(), filters)
        # The page and the total in one statement: every row carries the number of rows the
        # filters match, counted by an uncorrelated subquery the database runs once (on
        # PostgreSQL an InitPlan). Unlike a window count over the page query, it leaves the
        # ORDER BY ... LIMIT free to read only the page's rows through an index.
        total = _count(statement).scalar_subquery()
        counted = self._ordered(statement, sort).add_columns(total)
        rows = (await self.session.execute(counted.offset(page.offset).limit(page.size))).all()
        if rows:
            return [row[0] for row in rows], rows[0][1]
        if page.offset == 0:
            return [], 0
        # Past the last page: no row carries the total, so count on its own.
        return [], await self.session.scalar(_count(statement)) or 0

    async def list_keyset(
        self,
        filters: FiltersT,
        *,
        sort: SortParams | None = None,
        keyset: KeysetParams | None = None,
    ) -> tuple[list[ModelT], Cursor | None]:
        sort = sort or self.default_sort
        keyset = keyset or KeysetParams()
        column = self._sort_column(sort)
        # Rows are sorted and compared by the same key, so no row is skipped or read twice.
        key = _comparable(column)
        statement = self._apply_filters(self._select(), filters)
        if keyset.after is not None:
            value, after_id = self._decode_position(keyset.after, sort, column)
            # Spelled out rather than as a row comparison, so each value binds with its
            # column's type (UUIDs and datetimes are stored differently per backend).
            if sort.descending:
                after = or_(key < value, and_(key == value, self.model.id < after_id))
            else:
                after = or_(key > value, and_(key == value, self.model.id > after_id))
            statement = statement.where(after)
        page = self._ordered(statement, sort, key).limit(keyset.limit + 1)
        rows = list(await self.session.scalars(page))
        if len(rows) <= keyset.limit:
            return rows, None
        rows = rows[: keyset.limit]
        last = rows[-1]
        value = getattr(last, column.key)
        return rows, Cursor(sort=str(sort), value=_jsonable(value), id=str(last.id))

    def _decode_position(
        self, cursor: Cursor, sort: SortParams, column: InstrumentedAttribute[Any]
    ) -> tuple[Any, uuid.UUID]:
        if cursor.sort != str(sort):
            raise ValidationFailed.for_field("cursor", f"was issued for sort {cursor.sort!r}")
        try:
            # Checked as input is (`storable`): a time in UTC, text without NUL characters.
            value = storable(_typed(column.type.python_type, cursor.value))
            return value, uuid.UUID(cursor.id)
        except (TypeError, ValueError) as error:
            raise ValidationFailed.for_field("cursor", "is not a valid cursor") from error


class CreateMixin[ModelT: Entity](Repository[ModelT]):
    async def add(self, entity: ModelT) -> ModelT:
        self.session.add(entity)
        await self.session.flush()
        return entity

    async def add_all(self, entities: Sequence[ModelT]) -> list[ModelT]:
        check_bulk(entities, "items")
        self.session.add_all(entities)
        await self.session.flush()
        return list(entities)


class UpdateMixin[ModelT: Entity](Repository[ModelT]):
    async def update(self, entity: ModelT, values: Mapping[str, Any]) -> ModelT:
        """Write `values` to `entity` through a scoped UPDATE; `NotFound` if out of scope."""
        statement = (
            self._apply_user_scope(update(self.model).where(self.model.id == entity.id))
            .values(**values)
            .returning(self.model)
            .execution_options(populate_existing=True, synchronize_session=False)
        )
        updated = (await self.session.scalars(statement)).one_or_none()
        if updated is None:
            raise NotFound(f"{self.model.__name__} {entity.id} not found")
        return updated

    async def update_many(self, entity_ids: Sequence[uuid.UUID], values: Mapping[str, Any]) -> int:
        """Scoped bulk UPDATE; returns the number of rows changed.

        The changed rows come back from the UPDATE itself (RETURNING), which refreshes those
        already loaded: one statement, however many rows.
        """
        check_bulk(entity_ids)
        if not entity_ids:
            return 0
        statement = (
            self._apply_user_scope(update(self.model).where(self.model.id.in_(entity_ids)))
            .values(**values)
            .returning(self.model)
            .execution_options(populate_existing=True, synchronize_session=False)
        )
        return len(list(await self.session.scalars(statement)))


class DeleteMixin[ModelT: Entity](Repository[ModelT]):
    async def delete(self, entity: ModelT) -> None:
        """Scoped DELETE of one row; `NotFound` if it is out of scope or already gone."""
        deleted = await self.delete_many([entity.id])
        if deleted == 0:
            raise NotFound(f"{self.model.__name__} {entity.id} not found")

    async def delete_many(self, entity_ids: Sequence[uuid.UUID]) -> int:
        """Scoped bulk DELETE; returns the number of rows removed."""
        check_bulk(entity_ids)
        if not entity_ids:
            return 0
        statement = (
            self._apply_user_scope(delete(self.model).where(self.model.id.in_(entity_ids)))
            .returning(self.model.id)
            .execution_options(synchronize_session=False)
        )
        removed = list(await self.session.scalars(statement))
        for entity_id in removed:
            key = self.session.sync_session.identity_key(self.model, entity_id)
            if (loaded := self.session.identity_map.get(key)) is not None:
                self.session.expunge(loaded)
        return len(removed)


class CrudRepository[ModelT: Entity, FiltersT: Filters](
    ReadMixin[ModelT],
    ListMixin[ModelT, FiltersT],
    CreateMixin[ModelT],
    UpdateMixin[ModelT],
    DeleteMixin[ModelT],
):
    """Every mixin at once, for domains that need the full set."""


class _CanonicalTime(FunctionElement[Any]):
    """A time column as it compares as text: SQLite stores times as text, with microseconds
    when the ORM writes them ("2026-01-31 09:00:00.000000") and without when the server default
    does ("2026-01-31 09:00:00"), and the shorter of two equal times sorts first. Padded to the
    longer form, they sort as the times they are, and as bound values (always in that form)."""

    inherit_cache = True

    def __init__(self, column: SortKey) -> None:
        super().__init__(column)
        self.type = column.type


@compiles(_CanonicalTime)
def _time_as_stored(element: _CanonicalTime, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(_CanonicalTime, "sqlite")
def _time_padded(element: _CanonicalTime, compiler: SQLCompiler, **kw: Any) -> str:
    return f"substr({compiler.process(element.clauses, **kw)} || '.000000', 1, 26)"


def _comparable(column: InstrumentedAttribute[Any]) -> SortKey:
    """The key keyset pagination sorts and compares `column` by."""
    if column.type.python_type is datetime:
        return _CanonicalTime(column)
    return column


def _count(statement: Select[Any]) -> Select[int]:
    """The number of rows `statement` matches (its scope and filters included)."""
    return select(func.count()).select_from(statement.order_by(None).subquery())


def _typed(python_type: type[Any], value: Any) -> Any:
    """A cursor's sort value as its column's type; `ValueError` or `TypeError` if it is not one."""
    if python_type is datetime:
        position = datetime.fromisoformat(value)
        if position.tzinfo is None:
            raise ValueError("a time without its offset is ambiguous")
        return position
    if python_type is uuid.UUID:
        return uuid.UUID(value)
    if isinstance(value, python_type):
        return value
    return python_type(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value
