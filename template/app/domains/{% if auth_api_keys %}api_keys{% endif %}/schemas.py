"""API keys DTOs. `APIKeyCreated` is the only schema that ever carries the plaintext key."""

import uuid
from datetime import datetime

from pydantic import AwareDatetime, Field

from app.domains.base.filters import Filters
from app.domains.base.schemas import ReadSchema, Schema


class APIKeyCreate(Schema):
    name: str = Field(min_length=1, max_length=100, description="What the key is for.")
    expires_at: AwareDatetime | None = Field(
        default=None, description="When the key stops working (with a UTC offset); never if null."
    )


class APIKeyRead(ReadSchema):
    id: uuid.UUID
    name: str
    prefix: str = Field(description="The first characters of the key, to recognise it.")
    created_at: datetime
    last_used_at: datetime | None = Field(description="Updated at most once a minute.")
    expires_at: datetime | None
    revoked_at: datetime | None


class APIKeyCreated(APIKeyRead):
    key: str = Field(description="The API key. It is shown only once: store it now.")


class APIKeyFilters(Filters):
    active: bool | None = Field(
        default=None, description="Only keys that still work (true) or no longer do (false)."
    )
