"""Users DTOs: what clients send and receive."""

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, EmailStr, Field

from app.domains.base.authorization import Role
from app.domains.base.filters import Filters
from app.domains.base.schemas import EntityRead, Schema, UpdateSchema

Email = Annotated[EmailStr, AfterValidator(str.lower)]


class UserCreate(Schema):
    email: Email
    role: Role = Role.STANDARD


class UserUpdate(UpdateSchema):
    email: Email | None = None
    role: Role | None = None


class UserRead(EntityRead):
    email: str
    role: Role


class UserFilters(Filters):
    email: Email | None = Field(default=None, description="Exact e-mail address.")
    role: Role | None = Field(default=None, description="Only users with this role.")
    search: str | None = Field(
        default=None, min_length=1, max_length=100, description="Part of the e-mail address."
    )


class UserStatistics(BaseModel):
    """How many users there are, by role, and how many joined since a moment."""

    total: int
    admins: int
    standard: int
    joined_since: int
    since: datetime
