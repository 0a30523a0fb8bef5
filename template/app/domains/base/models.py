"""The declarative base and the columns every domain model shares.

`Base.metadata` carries a constraint naming convention so migrations get stable, portable names.
`Entity` gives a model a UUID primary key, timestamps and audit columns.
"""

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect, MetaData, TypeDecorator, Uuid, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utc_now() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[datetime]:
        return datetime

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), uuid.UUID: Uuid()}


# The SQL-standard spelling, the same on every backend (and immune to libraries that change how
# `func.now()` compiles).
CURRENT_TIMESTAMP = text("CURRENT_TIMESTAMP")


class Entity(Base):
    """Abstract base of domain models: id, timestamps and who made the last changes.

    Timestamps get a Python value (known right after flush, no extra query) and a server
    default (for rows written by SQL).
    """

    __abstract__ = True

    # sort_order keeps these columns first in every table, whatever the subclass declares.
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4, sort_order=-5)
    created_at: Mapped[datetime] = mapped_column(
        default=utc_now, server_default=CURRENT_TIMESTAMP, sort_order=-4
    )
    updated_at: Mapped[datetime] = mapped_column(
        default=utc_now, onupdate=utc_now, server_default=CURRENT_TIMESTAMP, sort_order=-3
    )
    created_by: Mapped[uuid.UUID | None] = mapped_column(default=None, sort_order=-2)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(default=None, sort_order=-1)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id}>"
