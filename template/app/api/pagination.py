"""Query parameters shared by list endpoints: sort, page and size."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from app.domains.base.filters import MAX_PAGE, MAX_PAGE_SIZE, PageParams, SortParams

# A sort value longer than any field name is refused before it is parsed or echoed back.
MAX_SORT_LENGTH = 64


class ListQuery(BaseModel):
    """Mixed into a domain's filters to make one query-parameter model per list endpoint."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sort: str | None = Field(
        default=None,
        max_length=MAX_SORT_LENGTH,
        description="Field to sort by; prefix with - for descending (for example -created_at).",
    )
    page: int = Field(default=1, ge=1, le=MAX_PAGE, description="Page number, from 1.")
    size: int = Field(default=50, ge=1, le=MAX_PAGE_SIZE, description="Items per page.")

    def sort_params(self) -> SortParams | None:
        return SortParams.parse(self.sort) if self.sort is not None else None

    def page_params(self) -> PageParams:
        return PageParams(page=self.page, size=self.size)


def sort_field(sort_options: list[str]) -> Any:
    """The `sort` parameter of one list endpoint, with its allowed values in the OpenAPI schema.

    Unknown values are still refused by the repository (422 naming the allowed fields).
    """
    allowed: list[JsonValue] = [*sort_options]
    return Field(
        default=None,
        max_length=MAX_SORT_LENGTH,
        description="Field to sort by; prefix with - for descending.",
        json_schema_extra={"enum": allowed},
    )
