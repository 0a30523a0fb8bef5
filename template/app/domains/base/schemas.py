"""Base Pydantic schemas: inputs reject unknown fields and values no database can store, reads
are built from ORM objects."""

import uuid
from datetime import UTC, datetime
from math import ceil
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, computed_field, field_validator, model_validator


def storable(value: Any) -> Any:
    """`value`, if every database can store it: text without NUL characters (PostgreSQL refuses
    them), and times that still exist once converted to UTC (years 1 to 9999), which they are
    converted to (as they are stored, and read back)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
    elif isinstance(value, datetime):
        if value.tzinfo is not None:
            try:
                return value.astimezone(UTC)
            except OverflowError:
                raise ValueError("is out of range once converted to UTC") from None
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            storable(item)
    return value


class Input(BaseModel):
    """Base of everything a caller sends (bodies, filters): unknown fields are an error, and
    every value is one the database can store, so bad input is a 422 on every backend."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        return storable(value)


class Schema(Input):
    """Base of input schemas (`XCreate`, `XUpdate`)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class UpdateSchema(Schema):
    """Base of partial updates: omitted fields are left alone.

    `null` is accepted only for the fields listed in `nullable_fields`; for any other field it
    is a validation error rather than a database error later.
    """

    nullable_fields: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> dict[str, Any]:
        # Document what the validator enforces: `null` only where `nullable_fields` allows it.
        schema = handler.resolve_ref_schema(handler(core_schema))
        for name, prop in schema.get("properties", {}).items():
            variants = prop.get("anyOf", [])
            if name not in cls.nullable_fields and {"type": "null"} in variants:
                kept = [variant for variant in variants if variant != {"type": "null"}]
                prop.pop("anyOf")
                prop.update(kept[0] if len(kept) == 1 else {"anyOf": kept})
        return schema

    @model_validator(mode="after")
    def _reject_null_for_required_fields(self) -> Self:
        for name in sorted(self.model_fields_set - self.nullable_fields):
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class ReadSchema(BaseModel):
    """Base of output schemas (`XRead`), validated from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


class EntityRead(ReadSchema):
    id: uuid.UUID
    created_at: datetime
    updated_at: datetime


class Page[ItemT](BaseModel):
    """One page of a list with the total number of matching rows."""

    items: list[ItemT]
    total: int
    page: int
    size: int

    @computed_field
    @property
    def pages(self) -> int:
        return ceil(self.total / self.size) if self.size else 0


class KeysetPage[ItemT](BaseModel):
    """A page of a keyset listing; pass `next_cursor` back to continue, `None` at the end."""

    items: list[ItemT]
    next_cursor: str | None
