"""Typed list parameters: filters, sorting, page/size and keyset pagination.

Everything here is plain data validated on construction; a bad value raises `ValidationFailed`
(the API answers 422), so repositories only ever see parameters they can apply.
"""

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from pydantic import ConfigDict

from app.domains.base.exceptions import ValidationFailed
from app.domains.base.schemas import Input

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
# Deep offsets are slow and can overflow a database integer; keyset pagination goes further.
MAX_PAGE = 100_000
# A cursor is a sort value and an id, as UTF-8 JSON in base64: a sortable text of 320
# characters of 4 bytes each (an e-mail address's bound) comes to about 1,800 characters.
# Anything longer is not one of ours, and is refused before it is decoded.
MAX_CURSOR_LENGTH = 2048


class Filters(Input):
    """Base of a domain's filter set: every field optional, unknown fields rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True, slots=True)
class PageParams:
    page: int = 1
    size: int = DEFAULT_PAGE_SIZE

    def __post_init__(self) -> None:
        if not 1 <= self.page <= MAX_PAGE:
            raise ValidationFailed.for_field("page", f"must be between 1 and {MAX_PAGE}")
        if not 1 <= self.size <= MAX_PAGE_SIZE:
            raise ValidationFailed.for_field("size", f"must be between 1 and {MAX_PAGE_SIZE}")

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


@dataclass(frozen=True, slots=True)
class SortParams:
    """A sort field and direction; `parse("-created_at")` sorts newest first."""

    field: str
    descending: bool = False

    @classmethod
    def parse(cls, value: str) -> "SortParams":
        descending = value.startswith("-")
        field = value.removeprefix("-").removeprefix("+").strip()
        if not field:
            raise ValidationFailed.for_field("sort", "must name a field, optionally prefixed by -")
        return cls(field=field, descending=descending)

    def __str__(self) -> str:
        return ("-" if self.descending else "") + self.field


@dataclass(frozen=True, slots=True)
class Cursor:
    """Position after the last row of a keyset page: its sort value and its id."""

    sort: str
    value: Any
    id: str

    def encode(self) -> str:
        raw = json.dumps(
            {"s": self.sort, "v": self.value, "i": self.id}, default=str, ensure_ascii=False
        )
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> "Cursor":
        if len(token) > MAX_CURSOR_LENGTH:
            raise ValidationFailed.for_field("cursor", "is not a valid cursor")
        try:
            padded = token + "=" * (-len(token) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode()))
            return cls(sort=str(data["s"]), value=data["v"], id=str(data["i"]))
        except (binascii.Error, ValueError, KeyError, TypeError, RecursionError) as error:
            raise ValidationFailed.for_field("cursor", "is not a valid cursor") from error


@dataclass(frozen=True, slots=True)
class KeysetParams:
    after: Cursor | None = None
    limit: int = DEFAULT_PAGE_SIZE

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_PAGE_SIZE:
            raise ValidationFailed.for_field("limit", f"must be between 1 and {MAX_PAGE_SIZE}")
